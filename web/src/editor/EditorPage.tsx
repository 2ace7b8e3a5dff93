export default function EditorPage() {
  return <p>The editor is being built.</p>;
}
