export default function AgentsPage() {
  return <p>AgentsPage is being built.</p>;
}
