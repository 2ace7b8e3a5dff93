export default function WorkflowsPage() {
  return <p>WorkflowsPage is being built.</p>;
}
