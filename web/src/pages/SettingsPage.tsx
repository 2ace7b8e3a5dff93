export default function SettingsPage() {
  return <p>SettingsPage is being built.</p>;
}
