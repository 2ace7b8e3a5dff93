// Form fields generated from a JSON Schema property: text, code, number, boolean, enum, JSON,
// and pickers for models and agents (loaded from the API once per page).
import { useEffect, useId, useState } from "react";
import { api, ok } from "../api/client";
import type { JsonSchema } from "./graph";

interface FieldProps {
  name: string;
  schema: JsonSchema;
  value: unknown;
  required: boolean;
  readOnly: boolean;
  onChange: (value: unknown) => void;
  /** Called when editing of this field is done (blur): one undo step per edit. */
  onCommit: () => void;
  error?: string;
}

const CODE_NAMES = /(template|prompt|code|expression|system|script|when|query|instructions)/i;
const CODE_FORMATS = new Set(["code", "template", "jinja", "jinja2", "python", "javascript", "expression", "textarea"]);

function schemaType(schema: JsonSchema): string | undefined {
  return Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
}

let modelsPromise: Promise<{ id: string; label: string }[]> | null = null;
function loadModels() {
  modelsPromise ??= (async () => {
    const providers = await ok(api.GET("/api/v1/models/providers"));
    const lists = await Promise.all(
      providers.map(async (p) => {
        try {
          const models = await ok(
            api.GET("/api/v1/models/providers/{provider}/models", { params: { path: { provider: p.name } } }),
          );
          return models.map((m) => ({
            id: m.id,
            label: `${m.id}${p.configured ? "" : " (not configured)"}`,
          }));
        } catch {
          return [];
        }
      }),
    );
    return lists.flat();
  })();
  modelsPromise.catch(() => (modelsPromise = null));
  return modelsPromise;
}

let agentsPromise: Promise<{ id: string; label: string }[]> | null = null;
function loadAgents() {
  agentsPromise ??= (async () => {
    const page = await ok(api.GET("/api/v1/agents", { params: { query: { limit: 100 } } }));
    return page.items.map((a) => ({ id: a.name, label: `${a.name}` }));
  })();
  agentsPromise.catch(() => (agentsPromise = null));
  return agentsPromise;
}

function usePickerOptions(load: () => Promise<{ id: string; label: string }[]>) {
  const [options, setOptions] = useState<{ id: string; label: string }[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let live = true;
    load().then(
      (o) => live && setOptions(o),
      (e: unknown) => live && setError(e instanceof Error ? e.message : String(e)),
    );
    return () => {
      live = false;
    };
  }, [load]);
  return { options, error };
}

function Picker({
  id,
  value,
  load,
  required,
  readOnly,
  onChange,
  onCommit,
  what,
}: {
  id: string;
  value: unknown;
  load: () => Promise<{ id: string; label: string }[]>;
  required: boolean;
  readOnly: boolean;
  onChange: (v: unknown) => void;
  onCommit: () => void;
  what: string;
}) {
  const { options, error } = usePickerOptions(load);
  const current = typeof value === "string" ? value : "";
  const known = options?.some((o) => o.id === current);
  return (
    <>
      <select
        id={id}
        value={current}
        disabled={readOnly}
        onChange={(e) => {
          onChange(e.target.value === "" ? undefined : e.target.value);
          onCommit();
        }}
      >
        <option value="">{options === null && !error ? `Loading ${what}s…` : `— choose a ${what} —`}</option>
        {current && !known ? <option value={current}>{current}</option> : null}
        {(options ?? []).map((o) => (
          <option key={o.id} value={o.id}>
            {o.label}
          </option>
        ))}
      </select>
      {error ? <span className="field-hint field-error">Could not load {what}s: {error}</span> : null}
      {!required ? null : null}
    </>
  );
}

function JsonField({
  id,
  value,
  readOnly,
  onChange,
  onCommit,
  expect,
  describedBy,
}: {
  id: string;
  value: unknown;
  readOnly: boolean;
  onChange: (v: unknown) => void;
  onCommit: () => void;
  expect?: "object" | "array";
  describedBy: string;
}) {
  const initial = value === undefined ? "" : JSON.stringify(value, null, 2);
  const [text, setText] = useState(initial);
  const [error, setError] = useState<string | null>(null);
  // Follow outside changes (undo, another node) unless the text already means the same value.
  useEffect(() => {
    setText((t) => {
      try {
        if (t.trim() !== "" && JSON.stringify(JSON.parse(t)) === JSON.stringify(value)) return t;
      } catch {
        /* keep going */
      }
      return value === undefined ? "" : JSON.stringify(value, null, 2);
    });
    setError(null);
  }, [value]);
  return (
    <>
      <textarea
        id={id}
        className="code"
        rows={Math.min(12, Math.max(3, text.split("\n").length))}
        value={text}
        readOnly={readOnly}
        spellCheck={false}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy}
        onChange={(e) => {
          const t = e.target.value;
          setText(t);
          if (t.trim() === "") {
            setError(null);
            onChange(undefined);
            return;
          }
          try {
            const parsed: unknown = JSON.parse(t);
            if (expect === "object" && (parsed === null || typeof parsed !== "object" || Array.isArray(parsed))) {
              setError("Must be a JSON object.");
              return;
            }
            if (expect === "array" && !Array.isArray(parsed)) {
              setError("Must be a JSON array.");
              return;
            }
            setError(null);
            onChange(parsed);
          } catch (err) {
            setError(`Invalid JSON: ${err instanceof Error ? err.message : String(err)}`);
          }
        }}
        onBlur={onCommit}
      />
      {error ? (
        <span className="field-hint field-error" id={describedBy} role="alert">
          {error}
        </span>
      ) : (
        <span id={describedBy} className="field-hint">JSON</span>
      )}
    </>
  );
}

/** A property with no declared type: text (templates) or JSON when it starts with { or [. */
function AnyField({
  id,
  value,
  readOnly,
  onChange,
  onCommit,
}: {
  id: string;
  value: unknown;
  readOnly: boolean;
  onChange: (v: unknown) => void;
  onCommit: () => void;
}) {
  const asText = (v: unknown) => (v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v, null, 2));
  const [text, setText] = useState(asText(value));
  useEffect(() => {
    setText((t) => (interpret(t) === value || JSON.stringify(interpret(t)) === JSON.stringify(value) ? t : asText(value)));
  }, [value]);
  return (
    <>
      <textarea
        id={id}
        className="code"
        rows={Math.min(12, Math.max(2, text.split("\n").length))}
        value={text}
        readOnly={readOnly}
        spellCheck={false}
        onChange={(e) => {
          setText(e.target.value);
          onChange(interpret(e.target.value));
        }}
        onBlur={onCommit}
      />
      <span className="field-hint">Text or template; JSON when it starts with {"{"} or [</span>
    </>
  );
}

function interpret(text: string): unknown {
  if (text === "") return undefined;
  const t = text.trim();
  if (t.startsWith("{") || t.startsWith("[")) {
    try {
      return JSON.parse(t);
    } catch {
      return text;
    }
  }
  return text;
}

export function SchemaField({ name, schema, value, required, readOnly, onChange, onCommit, error }: FieldProps) {
  const id = useId();
  const hintId = `${id}-hint`;
  const label = schema.title ?? name;
  const type = schemaType(schema);
  let control;
  if (name === "model" && (type === "string" || type === undefined)) {
    control = (
      <Picker id={id} value={value} load={loadModels} required={required} readOnly={readOnly} onChange={onChange} onCommit={onCommit} what="model" />
    );
  } else if (name === "agent" && (type === "string" || type === undefined)) {
    control = (
      <Picker id={id} value={value} load={loadAgents} required={required} readOnly={readOnly} onChange={onChange} onCommit={onCommit} what="agent" />
    );
  } else if (Array.isArray(schema.enum)) {
    const current = value === undefined ? "" : JSON.stringify(value);
    control = (
      <select
        id={id}
        value={current}
        disabled={readOnly}
        onChange={(e) => {
          onChange(e.target.value === "" ? undefined : JSON.parse(e.target.value));
          onCommit();
        }}
      >
        {required && value !== undefined ? null : <option value="">{schema.default !== undefined ? `default (${String(schema.default)})` : "—"}</option>}
        {schema.enum.map((opt) => (
          <option key={JSON.stringify(opt)} value={JSON.stringify(opt)}>
            {String(opt)}
          </option>
        ))}
      </select>
    );
  } else if (type === "boolean") {
    control = (
      <input
        id={id}
        type="checkbox"
        checked={value === true}
        disabled={readOnly}
        onChange={(e) => {
          onChange(e.target.checked);
          onCommit();
        }}
      />
    );
  } else if (type === "number" || type === "integer") {
    control = (
      <input
        id={id}
        type="number"
        step={type === "integer" ? 1 : "any"}
        min={schema.minimum}
        max={schema.maximum}
        value={typeof value === "number" ? value : typeof value === "string" ? value : ""}
        placeholder={schema.default !== undefined ? String(schema.default) : undefined}
        readOnly={readOnly}
        onChange={(e) => {
          const raw = e.target.value;
          if (raw === "") onChange(undefined);
          else {
            const n = Number(raw);
            onChange(Number.isFinite(n) ? (type === "integer" ? Math.trunc(n) : n) : raw);
          }
        }}
        onBlur={onCommit}
      />
    );
  } else if (type === "string") {
    const code = CODE_FORMATS.has(schema.format ?? "") || CODE_NAMES.test(name);
    const text = typeof value === "string" ? value : value === undefined ? "" : JSON.stringify(value);
    control = code ? (
      <textarea
        id={id}
        className="code"
        rows={Math.min(14, Math.max(3, text.split("\n").length + 1))}
        value={text}
        readOnly={readOnly}
        spellCheck={false}
        onChange={(e) => onChange(e.target.value === "" && !required ? undefined : e.target.value)}
        onBlur={onCommit}
      />
    ) : (
      <input
        id={id}
        type="text"
        value={text}
        readOnly={readOnly}
        onChange={(e) => onChange(e.target.value === "" && !required ? undefined : e.target.value)}
        onBlur={onCommit}
      />
    );
  } else if (type === "object" || type === "array") {
    control = (
      <JsonField id={id} value={value} readOnly={readOnly} onChange={onChange} onCommit={onCommit} expect={type} describedBy={hintId} />
    );
  } else {
    control = <AnyField id={id} value={value} readOnly={readOnly} onChange={onChange} onCommit={onCommit} />;
  }
  return (
    <div className={`field${error ? " field-invalid" : ""}`}>
      <label htmlFor={id}>
        {label}
        {required ? <span aria-hidden="true"> *</span> : null}
      </label>
      {control}
      {schema.description ? <span className="field-hint">{schema.description}</span> : null}
      {error ? (
        <span className="field-hint field-error" role="alert">
          {error}
        </span>
      ) : null}
    </div>
  );
}
