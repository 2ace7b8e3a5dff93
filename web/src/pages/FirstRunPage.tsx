export default function FirstRunPage() {
  return <p>FirstRunPage is being built.</p>;
}
