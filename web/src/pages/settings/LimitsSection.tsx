import { EmptyState } from "../../components/ui";

export function LimitsSection() {
  return <EmptyState title="Instance limits are not available on this server yet" />;
}
