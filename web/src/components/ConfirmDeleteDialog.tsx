import { useEffect, useState } from "react";
import { errorMessage } from "../api/client";
import { Button, Dialog, Notice } from "./ui";

/** "Delete X?" with a "Confirm delete" button; shows the API's refusal if there is one. */
export function ConfirmDeleteDialog({
  name,
  open,
  onClose,
  onConfirm,
  detail,
}: {
  name: string;
  open: boolean;
  onClose: () => void;
  onConfirm: () => Promise<void>;
  detail?: string;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (open) setError(null);
  }, [open]);
  return (
    <Dialog open={open} title={`Delete ${name}?`} onClose={onClose}>
      <p>{detail ?? "This cannot be undone."}</p>
      {error ? <Notice message={error} kind="error" /> : null}
      <div className="dialog-actions">
        <Button onClick={onClose}>Cancel</Button>
        <Button
          variant="danger"
          busy={busy}
          onClick={async () => {
            setBusy(true);
            setError(null);
            try {
              await onConfirm();
            } catch (err) {
              setError(errorMessage(err));
            } finally {
              setBusy(false);
            }
          }}
        >
          Confirm delete
        </Button>
      </div>
    </Dialog>
  );
}
