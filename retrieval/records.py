"""Plain data classes that flow through the pipeline: Source → Chunk → Passage → Result."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Source:
    """One corpus document and its attribution, as listed in corpus/sources.json."""

    id: str
    file: str
    title: str
    publisher: str = ""
    url: str = ""

    def attribution(self) -> dict:
        return {"id": self.id, "title": self.title, "publisher": self.publisher, "url": self.url}


@dataclass(frozen=True)
class Chunk:
    """A verbatim span of one corpus file as the index stores it, with the spans of its sentences."""

    id: int
    source_id: str
    path: str  # "corpus/<file>", relative to the project root
    start: int
    end: int
    text: str  # == file text[start:end]
    heading: str = ""  # nearest section heading, used only as embedding context
    sentences: tuple[tuple[int, int], ...] = ()  # absolute offsets of each sentence

    def embed_text(self, with_heading: bool) -> str:
        return f"{self.heading}\n{self.text}" if with_heading and self.heading else self.text

    def to_json(self) -> dict:
        d = asdict(self)
        d["sentences"] = [list(s) for s in self.sentences]
        return d

    @classmethod
    def from_json(cls, d: dict) -> Chunk:
        return cls(**{**d, "sentences": tuple(tuple(s) for s in d.get("sentences", ()))})


@dataclass
class Passage:
    """A span shown in an answer: its verbatim text, where it is, how well it matched, whose it is."""

    text: str
    path: str
    start: int
    end: int
    score: float
    source: dict
    highlight: list[int] | None = None
    also_in: list[dict] = field(default_factory=list)  # other sources that say much the same

    def to_json(self) -> dict:
        return {
            "text": self.text, "path": self.path, "start": self.start, "end": self.end, "score": self.score,
            "source": dict(self.source), "highlight": None if self.highlight is None else list(self.highlight),
            "also_in": [dict(a) for a in self.also_in],
        }


@dataclass
class Result:
    """What the bot answers to one message (the contract's result object)."""

    question: str
    status: str  # answered | no_match | crisis | smalltalk | invalid
    message: str = ""
    passages: list[Passage] = field(default_factory=list)
    id: object = None
    searched_for: str | None = None  # the question as searched, when misspelt words were corrected
    suggestions: list[str] = field(default_factory=list)  # bank questions close to an unsure message ("Did you mean …?")
    followups: list[str] = field(default_factory=list)  # bank questions about neighbouring passages ("People also ask")

    def to_json(self) -> dict:
        """The contract's object, with `id` only when the message had one and `searched_for` only
        when a misspelt word was corrected; suggestions and follow-ups as {"question": ...} objects.

        Written out rather than dataclasses.asdict, which deep-copies every value on the web server's
        event loop for every answer. tests/test_records.py checks both agree."""
        d: dict[str, object] = {"question": self.question, "status": self.status, "message": self.message,
             "passages": [p.to_json() for p in self.passages]}
        if self.id is not None:
            d["id"] = self.id
        if self.searched_for is not None:
            d["searched_for"] = self.searched_for
        d["suggestions"] = [{"question": q} for q in self.suggestions]
        d["followups"] = [{"question": q} for q in self.followups]
        return d


STATUSES = ("answered", "no_match", "crisis", "smalltalk", "invalid")
