import { z } from "zod";
import { idSchema } from "../kernel/ids.ts";
import { isBlank, wellFormedText } from "../kernel/text.ts";

/** REST 21. The name is what a download is saved as: no path, no control characters. */
export const uploadUrlSchema = z
  .strictObject({
    filename: wellFormedText()
      .min(1)
      .max(255)
      // Format characters too: a right-to-left override makes "invoice<RLO>fdp.exe" look like a PDF.
      .refine((n) => !/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}/\\]/u.test(n) && !isBlank(n) && !/^[\s.]*$/u.test(n), {
        message: "a file name without path separators, control or format characters",
      }),
    content_type: z.string().min(3).max(255),
    size: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  })
  .meta({ examples: [{ filename: "holiday.jpg", content_type: "image/jpeg", size: 2_412_033 }] });
export type UploadUrlInput = z.infer<typeof uploadUrlSchema>;

/** REST 22. */
export const confirmSchema = z.strictObject({ upload_id: idSchema });
export type ConfirmInput = z.infer<typeof confirmSchema>;

export const mediaParamsSchema = z.object({ media_id: idSchema });
