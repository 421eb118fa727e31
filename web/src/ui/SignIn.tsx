import { useEffect, useRef, useState } from "preact/hooks";
import { demoLogin, type Session, signInWithToken } from "../session.ts";

const USER_ID = /^[A-Za-z0-9_.:-]{1,64}$/;

export function SignIn({ onSignedIn, note }: { onSignedIn: (s: Session) => void; note: string | null }) {
  const [name, setName] = useState("");
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(note);
  const [busy, setBusy] = useState(false);
  const nameInput = useRef<HTMLInputElement>(null);
  useEffect(() => nameInput.current?.focus(), []);

  const demo = async (e: Event) => {
    e.preventDefault();
    if (!USER_ID.test(name)) {
      setError("Use 1–64 letters, digits or . _ : - (no spaces).");
      return;
    }
    setBusy(true);
    try {
      onSignedIn(await demoLogin(name));
    } catch (err) {
      setError(err instanceof Error ? err.message : "Sign-in failed.");
    } finally {
      setBusy(false);
    }
  };
  const paste = (e: Event) => {
    e.preventDefault();
    try {
      onSignedIn(signInWithToken(token));
    } catch (err) {
      setError(err instanceof Error ? err.message : "That token cannot be used.");
    }
  };

  return (
    <div class="signin">
      <div class="signin-card">
        <h1>Chat</h1>
        <form onSubmit={demo}>
          <label for="signin-name">Your name</label>
          <div class="row">
            <input
              id="signin-name"
              ref={nameInput}
              autoComplete="username"
              placeholder="e.g. alice"
              value={name}
              onInput={(e) => setName(e.currentTarget.value)}
            />
            <button type="submit" class="primary" disabled={busy}>
              Sign in
            </button>
          </div>
          <p class="hint">
            Demo sign-in: anyone may pick any name while the server runs with its generated secret.
          </p>
        </form>
        <form onSubmit={paste}>
          <label for="signin-token">Or paste a token</label>
          <div class="row">
            <input
              id="signin-token"
              type="password"
              autoComplete="off"
              placeholder="from npm run token -- <user_id>"
              value={token}
              onInput={(e) => setToken(e.currentTarget.value)}
            />
            <button type="submit" disabled={!token}>
              Use token
            </button>
          </div>
        </form>
        {error ? (
          <p class="error" role="alert">
            {error}
          </p>
        ) : null}
      </div>
    </div>
  );
}
