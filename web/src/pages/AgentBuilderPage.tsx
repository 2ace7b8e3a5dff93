// Agent builder: the agent's spec as a form (instructions with templates, model, tools,
// handoffs, guardrails, output schema with validation, sharing) and a test chat beside it.
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { useNavigate, useParams } from "react-router-dom";
import { ApiError, api, errorMessage, ok, type Schemas } from "../api/client";
import { useAuth } from "../auth/AuthContext";
import { AgentChat } from "../chat/AgentChat";
import {
  Button,
  ErrorState,
  Field,
  GlassPanel,
  LoadingState,
  Notice,
  PageHeader,
} from "../components/ui";
import { fetchAgents } from "./AgentsPage";

type Agent = Schemas["AgentPublic"];
type AgentBody = Schemas["AgentCreate"];
type Visibility = AgentBody["visibility"];
type Guardrail = NonNullable<AgentBody["input_guardrails"]>[number];
type ModelInfo = { id: string; provider: string; description?: string };

const BLOCKED_WORDS = "blocked_words";
const BLOCKED_PATTERNS = "blocked_patterns";

function guardrailText(body: AgentBody): { words: string; patterns: string } {
  const words = (body.input_guardrails ?? []).find(
    (g) => g.type === "keyword" && g.name === BLOCKED_WORDS,
  );
  const patterns = (body.output_guardrails ?? []).find(
    (g) => g.type === "regex" && g.name === BLOCKED_PATTERNS,
  );
  return {
    words: words && words.type === "keyword" ? words.keywords.join("\n") : "",
    patterns: patterns && patterns.type === "regex" ? patterns.patterns.join("\n") : "",
  };
}

const TEMPLATES: { name: string; text: string }[] = [
  { name: "Helpful assistant", text: "You are a helpful assistant. Answer briefly and accurately." },
  {
    name: "Support triage",
    text:
      "You triage customer support messages.\n" +
      "Classify each message as urgent, billing or general and explain why in one sentence.\n\n" +
      "Example:\nUser: I was charged twice this month.\nAssistant: billing — a duplicate charge.",
  },
  {
    name: "Summariser",
    text:
      "Summarise the user's text in at most three sentences. Keep names and numbers exact.\n" +
      "Do not add facts that are not in the text.",
  },
  {
    name: "Tool user",
    text:
      "You answer questions. When a question needs arithmetic, call the calculator tool " +
      "instead of computing in your head, then state the result.",
  },
  {
    name: "Router (handoffs)",
    text:
      "You are a router. Decide which specialist should answer and hand off to it. " +
      "Do not answer yourself.",
  },
];

const EMPTY: AgentBody = {
  name: "",
  description: "",
  instructions: "You are a helpful assistant.",
  model: "local:smollm2-135m",
  max_turns: 10,
  tools: [],
  handoffs: [],
  input_guardrails: [],
  output_guardrails: [],
  output_schema: null,
  visibility: "workspace",
};

function bodyOf(agent: Agent): AgentBody {
  return {
    name: agent.name,
    description: agent.description,
    instructions: agent.instructions,
    model: agent.model,
    model_settings: agent.model_settings,
    max_turns: agent.max_turns,
    tools: agent.tools ?? [],
    handoffs: agent.handoffs ?? [],
    input_guardrails: agent.input_guardrails ?? [],
    output_guardrails: agent.output_guardrails ?? [],
    output_schema: agent.output_schema ?? null,
    visibility: agent.visibility,
  };
}

/** The output schema text: "" (free text) or a JSON Schema object; the error if not valid. */
export function checkOutputSchema(text: string): { value: Record<string, unknown> | null; error: string | null } {
  if (!text.trim()) return { value: null, error: null };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    return { value: null, error: `Not valid JSON: ${(err as Error).message}` };
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    return { value: null, error: "The schema must be a JSON object." };
  }
  const schema = parsed as Record<string, unknown>;
  if (schema.type !== "object") {
    return { value: null, error: 'The output schema must describe an object ("type": "object").' };
  }
  if (schema.properties !== undefined && (typeof schema.properties !== "object" || schema.properties === null)) {
    return { value: null, error: '"properties" must be an object.' };
  }
  if (schema.required !== undefined && !Array.isArray(schema.required)) {
    return { value: null, error: '"required" must be an array of property names.' };
  }
  return { value: schema, error: null };
}

export default function AgentBuilderPage() {
  const { agentId } = useParams();
  const navigate = useNavigate();
  const { canEdit } = useAuth();
  const isNew = agentId === undefined;
  const [agent, setAgent] = useState<Agent | null>(null);
  const [body, setBody] = useState<AgentBody>(EMPTY);
  const [schemaText, setSchemaText] = useState("");
  const [loadError, setLoadError] = useState<string | null>(null);
  const [dirty, setDirty] = useState(false);
  const [saving, setSaving] = useState(false);
  const [error, setError] = useState<{ message: string; field?: string } | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [tools, setTools] = useState<Schemas["AvailableTool"][]>([]);
  const [models, setModels] = useState<ModelInfo[]>([]);
  const [outputTypes, setOutputTypes] = useState<Schemas["OutputTypePublic"][]>([]);
  const [others, setOthers] = useState<Agent[]>([]);

  // The catalogs the form offers: tools, models of every provider that answers, output types,
  // and the agents this one could hand off to.
  useEffect(() => {
    ok(api.GET("/api/v1/agents/tools/available")).then(setTools, () => setTools([]));
    ok(api.GET("/api/v1/agents/output-types/available")).then(setOutputTypes, () => undefined);
    fetchAgents("all").then(setOthers, () => setOthers([]));
    (async () => {
      const providers = await ok(api.GET("/api/v1/models/providers"));
      const lists = await Promise.all(
        providers
          .filter((p) => p.configured)
          .map((p) =>
            ok(
              api.GET("/api/v1/models/providers/{provider}/models", {
                params: { path: { provider: p.name } },
              }),
            ).catch(() => []),
          ),
      );
      setModels(lists.flat().map((m) => ({ id: m.id, provider: m.provider, description: m.description })));
    })().catch(() => setModels([]));
  }, []);

  useEffect(() => {
    setError(null);
    setNotice(null);
    setDirty(false);
    if (isNew) {
      setAgent(null);
      setBody(EMPTY);
      setSchemaText("");
      setBlockedText("");
      setPatternsText("");
      return;
    }
    setAgent(null);
    setLoadError(null);
    ok(api.GET("/api/v1/agents/{agent_id}", { params: { path: { agent_id: agentId } } })).then(
      (loaded) => {
        setAgent(loaded);
        setBody(bodyOf(loaded));
        const text = guardrailText(bodyOf(loaded));
        setBlockedText(text.words);
        setPatternsText(text.patterns);
        setSchemaText(loaded.output_schema ? JSON.stringify(loaded.output_schema, null, 2) : "");
      },
      (err) => setLoadError(errorMessage(err)),
    );
  }, [agentId, isNew]);

  useEffect(() => {
    if (!dirty) return;
    const warn = (event: BeforeUnloadEvent) => event.preventDefault();
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [dirty]);

  const editable = canEdit && (isNew || (agent?.editable ?? false));
  const schemaCheck = useMemo(() => checkOutputSchema(schemaText), [schemaText]);

  function update(patch: Partial<AgentBody>) {
    setBody((prev) => ({ ...prev, ...patch }));
    setDirty(true);
    setNotice(null);
  }

  // Guardrail text is kept as typed (blank lines included) and parsed into the spec.
  const [blockedWords, setBlockedText] = useState("");
  const [blockedPatterns, setPatternsText] = useState("");

  function setBlockedWords(text: string) {
    setBlockedText(text);
    const keywords = text
      .split("\n")
      .map((w) => w.trim())
      .filter(Boolean);
    const rest = (body.input_guardrails ?? []).filter(
      (g) => !(g.type === "keyword" && g.name === BLOCKED_WORDS),
    );
    const rails: Guardrail[] = keywords.length
      ? [...rest, { type: "keyword", name: BLOCKED_WORDS, keywords, case_sensitive: false }]
      : rest;
    update({ input_guardrails: rails });
  }

  function setBlockedPatterns(text: string) {
    setPatternsText(text);
    const patterns = text
      .split("\n")
      .map((w) => w.trim())
      .filter(Boolean);
    const rest = (body.output_guardrails ?? []).filter(
      (g) => !(g.type === "regex" && g.name === BLOCKED_PATTERNS),
    );
    const rails: Guardrail[] = patterns.length
      ? [...rest, { type: "regex", name: BLOCKED_PATTERNS, patterns }]
      : rest;
    update({ output_guardrails: rails });
  }

  async function save(event: FormEvent) {
    event.preventDefault();
    if (schemaCheck.error) {
      setError({ message: schemaCheck.error, field: "output_schema" });
      return;
    }
    setSaving(true);
    setError(null);
    setNotice(null);
    const payload: AgentBody = { ...body, name: body.name.trim(), output_schema: schemaCheck.value };
    try {
      if (isNew) {
        const created = await ok(api.POST("/api/v1/agents", { body: payload }));
        setDirty(false);
        navigate(`/agents/${created.id}`, { replace: true });
      } else {
        const updated = await ok(
          api.PUT("/api/v1/agents/{agent_id}", {
            params: { path: { agent_id: agentId } },
            body: payload,
          }),
        );
        setAgent(updated);
        setBody(bodyOf(updated));
        setDirty(false);
        setNotice("Saved.");
      }
    } catch (err) {
      setError({ message: errorMessage(err), field: err instanceof ApiError ? err.field : undefined });
    } finally {
      setSaving(false);
    }
  }

  const fieldError = (name: string) =>
    error?.field && (error.field === name || error.field.startsWith(`${name}.`) || error.field.startsWith(`${name}[`))
      ? error.message
      : null;

  if (loadError) return <ErrorState error={loadError} />;
  if (!isNew && agent === null) return <LoadingState label="Loading agent" />;

  const modelOptions = models.some((m) => m.id === body.model)
    ? models
    : [{ id: body.model, provider: body.model.split(":")[0] }, ...models];
  const handoffTargets = others.filter(
    (o) => o.id !== agentId && (agent === null || o.workspace_id === agent.workspace_id || o.visibility === "public"),
  );
  const toolNames = new Set((body.tools ?? []).map((t) => t.name));
  const handoffIds = new Set((body.handoffs ?? []).map((h) => h.agent));
  const generalError = error && !["name", "description", "instructions", "model", "output_schema", "tools", "handoffs", "input_guardrails", "output_guardrails", "max_turns", "visibility"].some((f) => fieldError(f))
    ? error.message
    : null;

  return (
    <div className="page" style={{ maxWidth: 1500 }}>
      <PageHeader title={isNew ? "New agent" : `Agent: ${agent?.name ?? ""}`}>
        {dirty ? <span className="badge badge-warn">unsaved changes</span> : null}
        <Button onClick={() => navigate("/agents")}>Back to agents</Button>
        {!isNew && !editable && canEdit ? (
          <Button
            onClick={async () => {
              try {
                const copy = await ok(
                  api.POST("/api/v1/agents/{agent_id}/clone", { params: { path: { agent_id: agentId! } } }),
                );
                navigate(`/agents/${copy.id}`);
              } catch (err) {
                setError({ message: errorMessage(err) });
              }
            }}
          >
            Clone to edit
          </Button>
        ) : null}
      </PageHeader>
      <div className="builder-layout">
        <GlassPanel className="builder-form">
          <form className="stack" onSubmit={save} aria-label="Agent settings">
            <fieldset disabled={!editable} className="stack" style={{ border: "none", padding: 0 }}>
              <div className="form-grid">
                <Field label="Name" error={fieldError("name")}>
                  {(props) => (
                    <input
                      {...props}
                      required
                      maxLength={100}
                      pattern="[A-Za-z0-9][A-Za-z0-9 _.\-]*"
                      value={body.name}
                      onChange={(e) => update({ name: e.target.value })}
                    />
                  )}
                </Field>
                <Field label="Visibility" error={fieldError("visibility")}>
                  {(props) => (
                    <select
                      {...props}
                      value={body.visibility}
                      onChange={(e) => update({ visibility: e.target.value as Visibility })}
                    >
                      <option value="private">private</option>
                      <option value="workspace">workspace</option>
                      <option value="public">public</option>
                    </select>
                  )}
                </Field>
              </div>
              <Field label="Description" error={fieldError("description")}>
                {(props) => (
                  <input
                    {...props}
                    maxLength={2000}
                    value={body.description}
                    onChange={(e) => update({ description: e.target.value })}
                  />
                )}
              </Field>
              <Field
                label="Instructions"
                error={fieldError("instructions")}
                hint="The system prompt. Describe the role, the rules, and give an example or two."
              >
                {(props) => (
                  <textarea
                    {...props}
                    rows={7}
                    maxLength={50000}
                    value={body.instructions}
                    onChange={(e) => update({ instructions: e.target.value })}
                  />
                )}
              </Field>
              <div className="field">
                <label htmlFor="select-start-from-a-template">Start from a template</label>
                <select id="select-start-from-a-template"
                  value=""
                  onChange={(e) => {
                    const template = TEMPLATES.find((t) => t.name === e.target.value);
                    if (template) update({ instructions: template.text });
                  }}
                >
                  <option value="">Choose a template…</option>
                  {TEMPLATES.map((t) => (
                    <option key={t.name} value={t.name}>
                      {t.name}
                    </option>
                  ))}
                </select>
              </div>
              <div className="form-grid">
                <Field label="Model" error={fieldError("model")}>
                  {(props) => (
                    <select {...props} value={body.model} onChange={(e) => update({ model: e.target.value })}>
                      {[...new Set(modelOptions.map((m) => m.provider))].map((provider) => (
                        <optgroup key={provider} label={provider}>
                          {modelOptions
                            .filter((m) => m.provider === provider)
                            .map((m) => (
                              <option key={m.id} value={m.id} title={m.description}>
                                {m.id}
                              </option>
                            ))}
                        </optgroup>
                      ))}
                    </select>
                  )}
                </Field>
                <Field label="Temperature" error={fieldError("model_settings")}>
                  {(props) => (
                    <input
                      {...props}
                      type="number"
                      min={0}
                      max={2}
                      step={0.1}
                      placeholder="default"
                      value={body.model_settings?.temperature ?? ""}
                      onChange={(e) =>
                        update({
                          model_settings: {
                            ...(body.model_settings ?? {}),
                            temperature: e.target.value === "" ? null : Number(e.target.value),
                          },
                        })
                      }
                    />
                  )}
                </Field>
                <Field label="Max turns" error={fieldError("max_turns")}>
                  {(props) => (
                    <input
                      {...props}
                      type="number"
                      min={1}
                      max={100}
                      value={body.max_turns}
                      onChange={(e) => update({ max_turns: Number(e.target.value) || 1 })}
                    />
                  )}
                </Field>
              </div>
              <fieldset>
                <legend>Tools</legend>
                {tools.length === 0 ? <p className="dim">No tools available.</p> : null}
                <div className="tool-grid">
                  {tools.map((tool) => (
                    <div key={tool.name} className="check" title={tool.description}>
                      <input
                        id={`tool-${tool.name}`}
                        type="checkbox"
                        checked={toolNames.has(tool.name)}
                        aria-describedby={`tool-desc-${tool.name}`}
                        onChange={(e) =>
                          update({
                            tools: e.target.checked
                              ? [...(body.tools ?? []), { name: tool.name, config: {} } as Schemas["ToolRef"]]
                              : (body.tools ?? []).filter((t) => t.name !== tool.name),
                          })
                        }
                      />
                      <div>
                        <label htmlFor={`tool-${tool.name}`} style={{ color: "var(--text)" }}>
                          {tool.name}
                        </label>
                        <small id={`tool-desc-${tool.name}`} className="dim" style={{ display: "block" }}>
                          {tool.description.length > 90 ? `${tool.description.slice(0, 90)}…` : tool.description}
                        </small>
                      </div>
                    </div>
                  ))}
                </div>
                {fieldError("tools") ? <p className="field-error" role="alert">{fieldError("tools")}</p> : null}
              </fieldset>
              <fieldset>
                <legend>Handoffs</legend>
                {handoffTargets.length === 0 ? (
                  <p className="dim">No other agents to hand off to.</p>
                ) : (
                  <div className="tool-grid">
                    {handoffTargets.map((target) => {
                      const checked = handoffIds.has(target.id) || handoffIds.has(target.name);
                      return (
                        <div key={target.id} className="row" style={{ gap: 6 }}>
                        <label className="check">
                          <input
                            type="checkbox"
                            checked={checked}
                            onChange={(e) =>
                              update({
                                handoffs: e.target.checked
                                  ? [
                                      ...(body.handoffs ?? []),
                                      { agent: target.id, mode: "handoff" } as Schemas["HandoffRef"],
                                    ]
                                  : (body.handoffs ?? []).filter(
                                      (h) => h.agent !== target.id && h.agent !== target.name,
                                    ),
                              })
                            }
                          />
                          <span>Hand off to {target.name}</span>
                        </label>
                          {checked ? (
                            <select
                              aria-label={`Mode for ${target.name}`}
                              className="btn-small"
                              value={
                                (body.handoffs ?? []).find(
                                  (h) => h.agent === target.id || h.agent === target.name,
                                )?.mode ?? "handoff"
                              }
                              onChange={(e) =>
                                update({
                                  handoffs: (body.handoffs ?? []).map((h) =>
                                    h.agent === target.id || h.agent === target.name
                                      ? { ...h, mode: e.target.value as "handoff" | "tool" }
                                      : h,
                                  ),
                                })
                              }
                            >
                              <option value="handoff">takes over</option>
                              <option value="tool">as a tool</option>
                            </select>
                          ) : null}
                        </div>
                      );
                    })}
                  </div>
                )}
                {fieldError("handoffs") ? <p className="field-error" role="alert">{fieldError("handoffs")}</p> : null}
              </fieldset>
              <Field
                label="Blocked words (input guardrail)"
                error={fieldError("input_guardrails")}
                hint="One per line. A message containing any of them is refused before the model sees it."
              >
                {(props) => (
                  <textarea
                    {...props}
                    rows={3}
                    value={blockedWords}
                    onChange={(e) => setBlockedWords(e.target.value)}
                  />
                )}
              </Field>
              <Field
                label="Blocked patterns in replies (output guardrail)"
                error={fieldError("output_guardrails")}
                hint="Regular expressions, one per line. A reply matching any of them is withheld."
              >
                {(props) => (
                  <textarea
                    {...props}
                    className="code"
                    spellCheck={false}
                    rows={2}
                    style={{ minHeight: 60 }}
                    value={blockedPatterns}
                    onChange={(e) => setBlockedPatterns(e.target.value)}
                  />
                )}
              </Field>
              <div className="field">
                <label htmlFor="select-output-type">Output type</label>
                <select id="select-output-type"
                  value=""
                  onChange={(e) => {
                    const type = outputTypes.find((t) => t.name === e.target.value);
                    if (!type) return;
                    setSchemaText(type.schema ? JSON.stringify(type.schema, null, 2) : "");
                    setDirty(true);
                  }}
                >
                  <option value="">Insert a preset…</option>
                  {outputTypes.map((t) => (
                    <option key={t.name} value={t.name}>
                      {t.name} — {t.description}
                    </option>
                  ))}
                </select>
              </div>
              <Field
                label="Output schema (JSON Schema)"
                error={schemaCheck.error ?? fieldError("output_schema")}
                hint="Leave empty for free text; otherwise an object schema the final answer must match."
              >
                {(props) => (
                  <textarea
                    {...props}
                    className="code"
                    spellCheck={false}
                    rows={6}
                    value={schemaText}
                    placeholder='{"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}'
                    onChange={(e) => {
                      setSchemaText(e.target.value);
                      setDirty(true);
                    }}
                  />
                )}
              </Field>
            </fieldset>
            {generalError ? <Notice message={generalError} kind="error" /> : null}
            {notice ? <Notice message={notice} /> : null}
            {editable ? (
              <div className="row">
                <Button type="submit" variant="primary" busy={saving} disabled={!dirty && !isNew}>
                  Save
                </Button>
              </div>
            ) : (
              <p className="dim">You can chat with this agent; clone it to make your own changes.</p>
            )}
          </form>
        </GlassPanel>
        <GlassPanel className="chat-panel" role="region" aria-label="Test chat">
          {isNew || !agentId ? (
            <AgentChat agentId="" disabledReason="Save the agent to test it here." />
          ) : (
            <>
              {dirty ? (
                <p className="notice" style={{ margin: 8 }}>
                  The chat uses the saved agent: save to try your changes.
                </p>
              ) : null}
              <AgentChat agentId={agentId} />
            </>
          )}
        </GlassPanel>
      </div>
    </div>
  );
}
