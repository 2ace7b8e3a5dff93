export default function ChatPage() {
  return <p>ChatPage is being built.</p>;
}
