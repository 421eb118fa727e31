/**
 * An attachment's Content-Disposition with an RFC 8187 `filename*`: everything outside
 * attr-char percent-encoded (encodeURIComponent leaves `'()*`, which RFC 8187 does not allow).
 */
export const attachment = (name: string): string =>
  `attachment; filename*=UTF-8''${encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;
