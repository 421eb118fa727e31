import { useEffect, useMemo, useState } from "preact/hooks";
import { ChatClient } from "../chat.ts";
import { type Session, savedSession, signOut } from "../session.ts";
import { ChatView } from "./ChatView.tsx";
import { Notices } from "./Notices.tsx";
import { Sidebar } from "./Sidebar.tsx";
import { SignIn } from "./SignIn.tsx";

export function App() {
  const [session, setSession] = useState<Session | null>(savedSession);
  const [expiredNote, setExpiredNote] = useState<string | null>(null);
  if (!session) return <SignIn onSignedIn={setSession} note={expiredNote} />;
  return (
    <Chat
      key={session.token}
      session={session}
      onSignOut={(note) => {
        signOut();
        setExpiredNote(note);
        setSession(null);
      }}
    />
  );
}

function Chat({ session, onSignOut }: { session: Session; onSignOut: (note: string | null) => void }) {
  const client = useMemo(() => new ChatClient(session), [session]);
  const [, setVersion] = useState(0);
  useEffect(() => {
    const off = client.subscribe(() => setVersion((v) => v + 1));
    return () => {
      off();
      client.close();
    };
  }, [client]);
  useEffect(() => {
    if (client.expired) onSignOut("Your session has expired: sign in again.");
  });
  const unread = client.unreadTotal();
  useEffect(() => {
    document.title = unread > 0 ? `(${unread}) Chat` : "Chat";
  }, [unread]);

  const active = client.activeRoomId ? client.rooms.get(client.activeRoomId) : undefined;
  return (
    <div class="app" data-view={active ? "chat" : "list"}>
      <Sidebar client={client} onSignOut={() => onSignOut(null)} />
      <main class="main">
        {!client.connected && client.ready ? (
          <div class="banner banner-offline" role="status">
            {navigator.onLine
              ? "Connection lost: reconnecting…"
              : "You're offline. Messages will be sent when you're back."}
          </div>
        ) : null}
        {active ? (
          <ChatView key={active.id} client={client} room={active} />
        ) : (
          <div class="empty-main">
            <p>{client.ready ? "Pick a chat, or start a new one." : "Connecting…"}</p>
          </div>
        )}
      </main>
      <Notices client={client} />
    </div>
  );
}
