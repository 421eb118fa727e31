import { createHmac, generateKeyPairSync } from "node:crypto";
import jwt from "jsonwebtoken";
import { describe, expect, it } from "vitest";
import { AuthError, signToken, TokenVerifier } from "../../src/auth/jwt.ts";

const secret = "a-secret-that-is-at-least-32-chars-long!";
const hs = new TokenVerifier({ key: { kind: "secret", secret, generated: false } });
const rsa = generateKeyPairSync("rsa", { modulusLength: 2048 });
const rsaPublic = rsa.publicKey.export({ type: "spki", format: "pem" }).toString();
const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
const ecPublic = ec.publicKey.export({ type: "spki", format: "pem" }).toString();
const rs = new TokenVerifier({ key: { kind: "public", publicKey: rsaPublic } });
const es = new TokenVerifier({ key: { kind: "public", publicKey: ecPublic } });
const now = () => Math.floor(Date.now() / 1000);

function unsigned(payload: object): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${b64({ alg: "none", typ: "JWT" })}.${b64(payload)}.`;
}

describe("TokenVerifier", () => {
  it("accepts a valid HS256 token and reads sub, name and admin role", () => {
    const token = jwt.sign({ sub: "alice", name: "Alice", roles: ["admin"] }, secret, { expiresIn: 60 });
    expect(hs.verify(token)).toMatchObject({ id: "alice", name: "Alice", admin: true });
    expect(hs.verify(signToken(secret, "bob")).admin).toBe(false);
  });

  it("rejects an expired token", () => {
    const token = jwt.sign({ sub: "alice", exp: now() - 10 }, secret);
    expect(() => hs.verify(token)).toThrow(new AuthError("token expired"));
  });

  it("rejects alg none", () => {
    expect(() => hs.verify(unsigned({ sub: "alice", exp: now() + 60 }))).toThrow(AuthError);
    expect(() => rs.verify(unsigned({ sub: "alice", exp: now() + 60 }))).toThrow(AuthError);
  });

  it("rejects a token without exp", () => {
    const token = jwt.sign({ sub: "alice" }, secret);
    expect(() => hs.verify(token)).toThrow(/exp/);
  });

  it("rejects a token signed with another secret", () => {
    const token = jwt.sign({ sub: "alice" }, "another-secret-another-secret-another!", { expiresIn: 60 });
    expect(() => hs.verify(token)).toThrow(AuthError);
  });

  it("rejects HS/RS confusion: an HS256 token keyed with the RSA public key", () => {
    // Forge by hand: jsonwebtoken itself refuses to sign HS256 with a PEM key.
    const header = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");
    const body = Buffer.from(JSON.stringify({ sub: "mallory", exp: now() + 60 })).toString("base64url");
    const sig = createHmac("sha256", rsaPublic).update(`${header}.${body}`).digest("base64url");
    expect(() => rs.verify(`${header}.${body}.${sig}`)).toThrow(AuthError);
  });

  it("rejects an RS256 token when only HS256 is configured", () => {
    const token = jwt.sign({ sub: "alice" }, rsa.privateKey, { algorithm: "RS256", expiresIn: 60 });
    expect(() => hs.verify(token)).toThrow(AuthError);
  });

  it("accepts RS256 and ES256 with their public keys, and not each other's", () => {
    const rsToken = jwt.sign({ sub: "alice" }, rsa.privateKey, { algorithm: "RS256", expiresIn: 60 });
    const esToken = jwt.sign({ sub: "bob" }, ec.privateKey, { algorithm: "ES256", expiresIn: 60 });
    expect(rs.verify(rsToken).id).toBe("alice");
    expect(es.verify(esToken).id).toBe("bob");
    expect(() => rs.verify(esToken)).toThrow(AuthError);
    expect(() => es.verify(rsToken)).toThrow(AuthError);
  });

  it("checks audience and issuer when configured", () => {
    const v = new TokenVerifier({
      key: { kind: "secret", secret, generated: false },
      issuer: "idp",
      audience: "chat",
    });
    const ok = jwt.sign({ sub: "alice" }, secret, { expiresIn: 60, issuer: "idp", audience: "chat" });
    expect(v.verify(ok).id).toBe("alice");
    const wrongAud = jwt.sign({ sub: "alice" }, secret, { expiresIn: 60, issuer: "idp", audience: "other" });
    const wrongIss = jwt.sign({ sub: "alice" }, secret, { expiresIn: 60, issuer: "evil", audience: "chat" });
    const none = jwt.sign({ sub: "alice" }, secret, { expiresIn: 60 });
    for (const t of [wrongAud, wrongIss, none]) expect(() => v.verify(t)).toThrow(AuthError);
  });

  it("rejects a sub outside the allowed charset or length", () => {
    for (const sub of ["", "has space", "x".repeat(65), "a/b"]) {
      const token = jwt.sign({ sub }, secret, { expiresIn: 60 });
      expect(() => hs.verify(token)).toThrow(AuthError);
    }
  });

  it("rejects garbage", () => {
    expect(() => hs.verify("not.a.jwt")).toThrow(AuthError);
  });
});
