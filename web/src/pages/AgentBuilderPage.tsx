export default function AgentBuilderPage() {
  return <p>AgentBuilderPage is being built.</p>;
}
