import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import path from "node:path";
import { removeDir, tempDir } from "./env.ts";

/** A tmpfs to fill up: as root, file permissions cannot make a disk unwritable, a full disk can. */
export type SmallDisk = {
  dir: string;
  /** Writes zeros until no space is left. */
  fill(): void;
  /** Frees what fill() took. */
  free(): void;
  unmount(): void;
};

/** Mounts a tmpfs of `size` ("1m"), or returns undefined where mounting is not allowed (the caller skips). */
export function mountSmallDisk(size: string): SmallDisk | undefined {
  const dir = tempDir("small-disk");
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir], { stdio: "ignore" });
  } catch {
    removeDir(dir);
    return undefined;
  }
  const filler = path.join(dir, "filler");
  return {
    dir,
    fill() {
      try {
        execFileSync("dd", ["if=/dev/zero", `of=${filler}`, "bs=64k", "count=64"], { stdio: "ignore" });
      } catch {
        // dd stops at "No space left on device": the disk is full, which is the point.
      }
    },
    free() {
      rmSync(filler, { force: true });
    },
    unmount() {
      execFileSync("umount", ["-l", dir]);
      removeDir(dir);
    },
  };
}
