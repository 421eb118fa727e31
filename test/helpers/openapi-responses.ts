import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { afterAll } from "vitest";

type MediaTypes = Record<string, { schema?: unknown }>;
type Operation = { responses?: Record<string, { content?: MediaTypes }> };
export type OpenApiDoc = { paths: Record<string, Record<string, Operation>> };

/** One response as a client saw it. */
export type SeenResponse = {
  method: string;
  /** The request path, without the query. */
  path: string;
  status: number;
  contentType: string | null;
  /** The body as text ("" when there was none). */
  text: string;
};

/** JSON pointer escaping (RFC 6901) of one reference token. */
const escapePointer = (token: string) => token.replaceAll("~", "~0").replaceAll("/", "~1");

/**
 * Checks responses against an OpenAPI 3.1 document: the status must be declared for the
 * operation, and a body must have a declared media type and, for JSON, match its schema
 * (JSON Schema 2020-12, compiled by Ajv once per schema and process).
 */
export class ResponseValidator {
  readonly #doc: OpenApiDoc;
  readonly #ajv: Ajv2020;
  readonly #routes: { template: string; pattern: RegExp; literals: number }[];
  readonly #compiled = new Map<string, ValidateFunction>();

  constructor(doc: OpenApiDoc) {
    this.#doc = doc;
    // Not strict: the document carries OpenAPI keywords (`example`) beside the JSON Schema ones.
    this.#ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(this.#ajv);
    this.#ajv.addSchema({ ...doc, $id: "openapi.json" });
    this.#routes = Object.keys(doc.paths).map((template) => ({
      template,
      pattern: new RegExp(
        `^${template
          .split(/\{[^}]+\}/)
          .map((s) => s.replace(/[.*+?^$()|[\]\\]/g, "\\$&"))
          .join("[^/]+")}$`,
      ),
      literals: template.split("/").filter((s) => s && !s.startsWith("{")).length,
    }));
  }

  /** The document's path template that serves `path` (the most specific one), if any. */
  template(path: string): string | undefined {
    return this.#routes.filter((r) => r.pattern.test(path)).sort((a, b) => b.literals - a.literals)[0]
      ?.template;
  }

  /** Whether the document lists this operation. */
  covers(method: string, path: string): boolean {
    const template = this.template(path);
    return template !== undefined && this.#doc.paths[template]?.[method.toLowerCase()] !== undefined;
  }

  /** What is wrong with the response; empty when the document allows it. */
  violations(r: SeenResponse): string[] {
    const template = this.template(r.path);
    const method = r.method.toLowerCase();
    // A path or method the document does not list is "no such endpoint": nothing to check.
    const operation = template ? this.#doc.paths[template]?.[method] : undefined;
    if (!template || !operation) return [];
    const where = `${r.method.toUpperCase()} ${template} ${r.status}`;
    const responses = operation.responses ?? {};
    const key = [String(r.status), `${String(r.status)[0]}XX`, "default"].find((k) => responses[k]);
    if (!key)
      return [`${where}: status not in the document (it declares ${Object.keys(responses).join(", ")})`];
    const content = responses[key]?.content;
    if (!content) return r.text === "" ? [] : [`${where}: a body where the document declares none`];
    const mediaType = (r.contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
    const declared = Object.keys(content);
    // A declared range (`image/*`, `*/*`) takes any type it covers.
    const covers = (range: string) =>
      range === mediaType ||
      range === "*/*" ||
      (range.endsWith("/*") && mediaType.startsWith(range.slice(0, -1)));
    if (!declared.some(covers)) {
      return [`${where}: content type "${mediaType}" is not one of ${declared.join(", ")}`];
    }
    if (mediaType !== "application/json" || content[mediaType]?.schema === undefined) return [];
    let body: unknown;
    try {
      body = JSON.parse(r.text);
    } catch {
      return [`${where}: the body is not JSON`];
    }
    const validate = this.#validator(
      ["paths", template, method, "responses", key, "content", mediaType, "schema"]
        .map(escapePointer)
        .join("/"),
      content[mediaType]?.schema,
    );
    if (validate(body)) return [];
    const errors = (validate.errors ?? []).map(
      (e) => `${e.instancePath || "/"} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`,
    );
    return [`${where}: body does not match the schema: ${errors.join("; ")} — ${r.text.slice(0, 300)}`];
  }

  /** Compiled once per distinct schema (most errors share one): its refs all point into the document. */
  #validator(pointer: string, schema: unknown): ValidateFunction {
    const key = JSON.stringify(schema);
    let v = this.#compiled.get(key);
    if (!v) {
      v = this.#ajv.compile({ $ref: `openapi.json#/${pointer}` });
      this.#compiled.set(key, v);
    }
    return v;
  }
}

/** Each API's document, fetched once per process when the first response from it is observed. */
const docs = new Map<string, Promise<string | undefined>>();
/** One validator per distinct document, its schemas compiled as responses need them. */
const validators = new Map<string, ResponseValidator>();

function fetchDoc(base: string): Promise<string | undefined> {
  let doc = docs.get(base);
  if (!doc) {
    doc = fetch(`${base}/api/v1/openapi.json`).then(
      (res) => (res.ok ? res.text() : undefined),
      () => undefined,
    );
    docs.set(base, doc);
  }
  return doc;
}

async function validatorFor(base: string): Promise<ResponseValidator | undefined> {
  // An API killed before it served its document (a crash test): another API's will do.
  let text = await fetchDoc(base);
  for (const other of docs.values()) text ??= await other;
  if (text === undefined) return undefined;
  let v = validators.get(text);
  if (!v) {
    v = new ResponseValidator(JSON.parse(text) as OpenApiDoc);
    validators.set(text, v);
  }
  return v;
}

type Observed = Omit<SeenResponse, "text"> & { base: string; text: Promise<string> };
const observed: Observed[] = [];
const seen: string[] = [];

/**
 * Keeps a response an end-to-end test received from the API at `base`, to be checked against
 * the document that API serves after the file's tests (afterAll below), so checking costs the
 * tests only one read of each API's document (rate limits and bursts are timed); what does not
 * match fails the file. The REST helpers (test/helpers/http.ts) call it for every response.
 */
export async function observe(base: string, method: string, path: string, res: Response): Promise<void> {
  const text = res.clone().text();
  text.catch(() => undefined); // a body cut short (the API was killed): nothing to check
  observed.push({
    base,
    method,
    path,
    status: res.status,
    contentType: res.headers.get("content-type"),
    text,
  });
  // Read while the API surely runs: a test that stops the API right after its last request
  // must not leave the check with another API's document.
  await fetchDoc(base);
}

/** Checks what was observed so far; returns every violation seen in this file. */
export async function checkObserved(): Promise<string[]> {
  for (const o of observed.splice(0)) {
    const v = await validatorFor(o.base);
    if (!v) {
      seen.push(`${o.method} ${o.path}: no OpenAPI document could be read from ${o.base}`);
      continue;
    }
    // Paths the document does not list ("no such endpoint", Socket.IO's) are not its business.
    if (!v.covers(o.method, o.path)) continue;
    const text = await o.text.catch(() => undefined);
    if (text !== undefined) seen.push(...v.violations({ ...o, text }));
  }
  return [...seen];
}

/** Forget the violations seen so far (after a test that provokes one on purpose). */
export function clearViolations(): void {
  seen.length = 0;
}

// Registered once per test file (vitest loads helpers afresh for each file).
afterAll(async () => {
  const violations = await checkObserved();
  if (violations.length > 0) {
    throw new Error(
      `responses that the OpenAPI document does not allow:\n${[...new Set(violations)].join("\n")}`,
    );
  }
});
