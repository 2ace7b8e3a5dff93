// The "Run" dialog: one field per workflow input, then save-if-dirty and execute.
import { useEffect, useId, useRef, useState, type FormEvent } from "react";
import { Button } from "../../components/ui";
import type { InputField } from "./spec";

type Values = Record<string, string | boolean>;

function initialValue(field: InputField): string | boolean {
  const value = field.defaultValue;
  if (field.kind === "boolean") return value === true;
  if (value === undefined || value === null) return "";
  if (field.kind === "json") return JSON.stringify(value, null, 2);
  return String(value);
}

/** The form's values as `input_data`, or the errors by field name. */
export function collectInputs(
  fields: InputField[] | null,
  values: Values,
  rawJson: string,
): { data: Record<string, unknown> } | { errors: Record<string, string> } {
  if (fields === null) {
    try {
      const parsed: unknown = rawJson.trim() === "" ? {} : JSON.parse(rawJson);
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
        return { errors: { __json: "The inputs must be a JSON object." } };
      }
      return { data: parsed as Record<string, unknown> };
    } catch (error) {
      return { errors: { __json: `Not valid JSON: ${(error as Error).message}` } };
    }
  }
  const data: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const field of fields) {
    const value = values[field.name];
    if (field.kind === "boolean") {
      data[field.name] = value === true;
      continue;
    }
    const text = typeof value === "string" ? value : "";
    if (text.trim() === "") {
      if (field.required) errors[field.name] = "Required.";
      continue;
    }
    if (field.kind === "number" || field.kind === "integer") {
      const number = Number(text);
      if (!Number.isFinite(number)) errors[field.name] = "Enter a number.";
      else if (field.kind === "integer" && !Number.isInteger(number)) {
        errors[field.name] = "Enter a whole number.";
      } else data[field.name] = number;
    } else if (field.kind === "json") {
      try {
        data[field.name] = JSON.parse(text);
      } catch (error) {
        errors[field.name] = `Not valid JSON: ${(error as Error).message}`;
      }
    } else {
      data[field.name] = text;
    }
  }
  return Object.keys(errors).length > 0 ? { errors } : { data };
}

export function RunDialog(props: {
  open: boolean;
  fields: InputField[] | null;
  note: string;
  busy: boolean;
  progress: string | null;
  /** An API error: its message, and per-field messages (from `field` / `details`). */
  error: { message: string; fields: Record<string, string> } | null;
  lastInputs: Record<string, unknown> | null;
  onStart: (inputs: Record<string, unknown>) => void;
  onClose: () => void;
}) {
  const { open, fields, busy } = props;
  const dialogRef = useRef<HTMLDialogElement>(null);
  const idBase = useId();
  const [values, setValues] = useState<Values>({});
  const [rawJson, setRawJson] = useState("{}");
  const [errors, setErrors] = useState<Record<string, string>>({});

  useEffect(() => {
    const dialog = dialogRef.current;
    if (!dialog) return;
    if (open && !dialog.open) {
      const start: Values = {};
      for (const field of fields ?? []) {
        const last = props.lastInputs?.[field.name];
        start[field.name] =
          last !== undefined
            ? initialValue({ ...field, defaultValue: last })
            : initialValue(field);
      }
      setValues(start);
      setRawJson(JSON.stringify(props.lastInputs ?? {}, null, 2));
      setErrors({});
      if (typeof dialog.showModal === "function") dialog.showModal();
      else dialog.setAttribute("open", "");
    } else if (!open && dialog.open) {
      dialog.close();
    }
    // lastInputs is read when the dialog opens only.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [open, fields]);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const result = collectInputs(fields, values, rawJson);
    if ("errors" in result) {
      setErrors(result.errors);
      return;
    }
    setErrors({});
    props.onStart(result.data);
  };

  const shown = { ...(props.error?.fields ?? {}), ...errors };
  const fieldError = (name: string) => shown[name] ?? shown[`input_data.${name}`];

  return (
    <dialog
      ref={dialogRef}
      className="run-dialog glass"
      aria-labelledby={`${idBase}-title`}
      onCancel={(event) => {
        event.preventDefault();
        if (!busy) props.onClose();
      }}
    >
      <form onSubmit={submit} noValidate>
        <h2 id={`${idBase}-title`}>Run workflow</h2>
        <p className="run-note">{props.note}</p>
        {fields === null ? (
          <div className="run-field">
            <label htmlFor={`${idBase}-json`}>Inputs (JSON)</label>
            <textarea
              id={`${idBase}-json`}
              className="code"
              rows={6}
              value={rawJson}
              onChange={(e) => setRawJson(e.target.value)}
              aria-invalid={shown.__json ? true : undefined}
              aria-describedby={shown.__json ? `${idBase}-json-error` : undefined}
            />
            {shown.__json ? (
              <span id={`${idBase}-json-error`} className="field-error" role="alert">
                {shown.__json}
              </span>
            ) : null}
          </div>
        ) : fields.length === 0 ? (
          <p className="run-note">This workflow takes no inputs.</p>
        ) : (
          fields.map((field, index) => {
            const id = `${idBase}-f${index}`;
            const error = fieldError(field.name);
            const describedBy = [
              field.description ? `${id}-desc` : "",
              error ? `${id}-error` : "",
            ]
              .filter(Boolean)
              .join(" ");
            const common = {
              id,
              name: field.name,
              "aria-invalid": error ? true : undefined,
              "aria-describedby": describedBy || undefined,
              "aria-required": field.required || undefined,
            };
            const value = values[field.name];
            let control;
            if (field.kind === "boolean") {
              control = (
                <input
                  {...common}
                  type="checkbox"
                  checked={value === true}
                  onChange={(e) => setValues((v) => ({ ...v, [field.name]: e.target.checked }))}
                />
              );
            } else if (field.enumValues) {
              control = (
                <select
                  {...common}
                  value={typeof value === "string" ? value : ""}
                  onChange={(e) => setValues((v) => ({ ...v, [field.name]: e.target.value }))}
                >
                  <option value="">—</option>
                  {field.enumValues.map((option) => (
                    <option key={option} value={option}>
                      {option}
                    </option>
                  ))}
                </select>
              );
            } else if (field.kind === "json") {
              control = (
                <textarea
                  {...common}
                  className="code"
                  rows={4}
                  value={typeof value === "string" ? value : ""}
                  onChange={(e) => setValues((v) => ({ ...v, [field.name]: e.target.value }))}
                />
              );
            } else {
              control = (
                <input
                  {...common}
                  type={field.kind === "text" ? "text" : "number"}
                  step={field.kind === "integer" ? 1 : "any"}
                  value={typeof value === "string" ? value : ""}
                  onChange={(e) => setValues((v) => ({ ...v, [field.name]: e.target.value }))}
                />
              );
            }
            return (
              <div className={`run-field run-field-${field.kind}`} key={field.name}>
                <label htmlFor={id}>{field.name}</label>
                {field.required ? <span className="run-required" aria-hidden="true"> *</span> : null}
                {control}
                {field.description ? (
                  <span id={`${id}-desc`} className="run-hint">
                    {field.description}
                  </span>
                ) : null}
                {error ? (
                  <span id={`${id}-error`} className="field-error">
                    {error}
                  </span>
                ) : null}
              </div>
            );
          })
        )}
        {props.error ? (
          <p className="run-error" role="alert">
            {props.error.message}
          </p>
        ) : null}
        {props.progress ? (
          <p className="run-progress" role="status">
            <span className="spinner" aria-hidden="true" /> {props.progress}
          </p>
        ) : null}
        <div className="run-dialog-actions">
          <Button type="button" onClick={props.onClose} disabled={busy}>
            Cancel
          </Button>
          <Button type="submit" variant="primary" busy={busy}>
            Start run
          </Button>
        </div>
      </form>
    </dialog>
  );
}
