"""CTC decoding in numpy: greedy, prefix beam search constrained to a word list, and word times.

Every function takes log-probabilities of shape (steps, symbols) with the blank at index 0 and
an alphabet string naming the symbols (``alphabet[0]`` is the blank, ``" "`` separates words).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NEG_INF = -np.inf


@dataclass(frozen=True)
class Word:
    word: str
    start: float  # seconds
    end: float
    score: float  # geometric mean of the word's letter posteriors along the alignment, 0..1

    def to_dict(self) -> dict:
        return {"word": self.word, "start": round(self.start, 3), "end": round(self.end, 3),
                "score": round(self.score, 4)}


def greedy(log_probs: np.ndarray, alphabet: str) -> str:
    """Best symbol per step, repeats merged, blanks dropped; spaces normalised."""
    best = log_probs.argmax(-1)
    keep = np.ones(len(best), bool)
    keep[1:] = best[1:] != best[:-1]
    text = "".join(alphabet[i] for i in best[keep] if i != 0)
    return " ".join(text.split())


def _logsumexp(a: float, b: float) -> float:
    if a == NEG_INF:
        return b
    if b == NEG_INF:
        return a
    return max(a, b) + math.log1p(math.exp(-abs(a - b)))


DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
# Share of pure digit strings among utterances: what the connected-words builder makes, and the prior
# the shipped transcriber decodes with.
DIGIT_STRINGS = 0.6


def _prefixes(words: frozenset[str]) -> frozenset[str]:
    """Every prefix of every word, the empty one included."""
    return frozenset(w[:i] for w in words for i in range(len(w) + 1))


def _remember(memo: dict, text: str, compute):
    """``compute(text)``, looked up in ``memo`` first; the memo is emptied past 100,000 entries (a long
    recording's prefixes), so it stays bounded."""
    known = memo.get(text)
    if known is None:
        known = memo[text] = compute(text)
        if len(memo) > 100_000:
            memo.clear()
    return known


class Lexicon:
    """The words a beam may spell, as a set of word prefixes, and optionally a prior over sentences.

    ``digit_strings``: the prior probability that an utterance is a pure digit string (TIDIGITS-style);
    any other utterance is any sequence of the words. A sentence of k words then has prior
    ``digit_strings * 10**-k`` (if all its words are digits) plus ``(1 - digit_strings) * len(words)**-k``;
    the search adds ``weight`` times its log, relative to the any-words mode (so the length of a
    sentence costs nothing; only being a digit string helps). 0 turns the prior off.
    """

    def __init__(self, words: list[str], digit_strings: float = 0.0, weight: float = 1.0,
                 digits: tuple[str, ...] = DIGITS):
        self.words = frozenset(words)
        self.prefixes = _prefixes(self.words)
        self._allows: dict[str, bool] = {}
        self.digits = frozenset(digits) & self.words
        self.digit_prefixes = _prefixes(self.digits)
        if not 0 <= digit_strings < 1:
            raise ValueError(f"digit_strings is a share of utterances, from 0 up to (not including) 1; got {digit_strings}")
        self.digit_strings, self.weight = digit_strings, weight
        self._prior: dict[str, float] = {}

    def prior(self, text: str) -> float:
        """Weighted log prior of a (partial) sentence relative to the any-words mode: 0 unless it can
        still be a digit string, then growing with each digit."""
        if not self.digit_strings or not self.digits:
            return 0.0
        return _remember(self._prior, text, self._digit_prior)

    def _digit_prior(self, text: str) -> float:
        *done, partial = text.split(" ")
        if not (all(w in self.digits for w in done) and partial in self.digit_prefixes):
            return 0.0
        k = len(done) + (partial != "")
        ratio = self.digit_strings / (1 - self.digit_strings) * (len(self.words) / len(self.digits)) ** k
        return self.weight * math.log1p(ratio)

    def allows(self, text: str) -> bool:
        """Whether ``text`` (no leading or double spaces) can still grow into a word sequence."""
        return _remember(self._allows, text, self._spells)

    def _spells(self, text: str) -> bool:
        *done, partial = text.split(" ")
        return all(w in self.words for w in done) and partial in self.prefixes

    def complete(self, text: str) -> bool:
        return all(w in self.words for w in text.split())


def beam_search(log_probs: np.ndarray, alphabet: str, lexicon: Lexicon | None = None, beam: int = 16,
                prune: float = -8.0) -> str:
    """CTC prefix beam search (Hannun et al., 2014). With a lexicon, a prefix survives only while it
    spells complete vocabulary words followed by the start of one, and a space may only end a word.

    ``prune``: symbols below this log-probability at a step are not tried (the blank and the
    prefix's own last symbol always are); a step the blank owns outright extends every beam by blank.
    """
    space = alphabet.index(" ")
    prior = lexicon.prior if lexicon is not None else (lambda text: 0.0)

    def rank(item: tuple[str, tuple[float, float]]) -> float:
        return -(_logsumexp(*item[1]) + prior(item[0]))

    # prefix -> (log p ending in blank, log p ending in a symbol)
    beams: dict[str, tuple[float, float]] = {"": (0.0, NEG_INF)}
    for t in range(len(log_probs)):
        row = log_probs[t]
        if row[0] > -1e-3:  # a blank step (p > 0.999): extending by blank is all that matters
            beams = {p: (_logsumexp(b, nb) + row[0], NEG_INF) for p, (b, nb) in beams.items()}
            continue
        candidates = np.flatnonzero(row > prune)
        nxt: dict[str, list[float]] = {}

        def add(prefix: str, blank: float, symbol: float) -> None:
            entry = nxt.setdefault(prefix, [NEG_INF, NEG_INF])
            entry[0] = _logsumexp(entry[0], blank)
            entry[1] = _logsumexp(entry[1], symbol)

        for prefix, (b, nb) in beams.items():
            total = _logsumexp(b, nb)
            add(prefix, total + row[0], NEG_INF)
            last = prefix[-1] if prefix else None
            if last is not None:  # the last symbol repeated without a blank: same prefix
                add(prefix, NEG_INF, nb + row[alphabet.index(last)])
            for s in candidates:
                if s == 0:
                    continue
                char = alphabet[s]
                if s == space and (not prefix or last == " "):
                    continue
                extended = prefix + char
                if lexicon is not None and not lexicon.allows(extended):
                    continue
                # a repeated symbol needs a blank between (only the blank-ending path extends)
                add(extended, NEG_INF, (b if char == last else total) + row[s])
        beams = dict(sorted(((p, (v[0], v[1])) for p, v in nxt.items()), key=rank)[:beam])
    ranked = sorted(beams.items(), key=rank)
    for prefix, _ in ranked:
        text = prefix.strip()
        if lexicon is None or lexicon.complete(text):
            return text
    return ""


def align(log_probs: np.ndarray, alphabet: str, text: str) -> list[tuple[int, int, int]]:
    """Viterbi CTC alignment of ``text``: for each of its symbols, (symbol index in text, first step,
    last step) where the best path emits it. Empty when the text does not fit in the steps."""
    labels = [alphabet.index(c) for c in text]
    if not labels:
        return []
    states = [0]
    for s in labels:
        states += [s, 0]
    states = np.array(states)
    n, steps = len(states), len(log_probs)
    # a state may be skipped to from two back when it is a symbol differing from that one
    skip = np.zeros(n, bool)
    skip[3::2] = states[3::2] != states[1:-2:2]
    score = np.full(n, NEG_INF)
    score[:2] = log_probs[0, states[:2]]
    back = np.zeros((steps, n), np.int8)  # 0 stay, 1 from previous state, 2 from two back
    for t in range(1, steps):
        stay, step1 = score, np.concatenate([[NEG_INF], score[:-1]])
        step2 = np.where(skip, np.concatenate([[NEG_INF, NEG_INF], score[:-2]]), NEG_INF)
        choice = np.stack([stay, step1, step2])
        back[t] = choice.argmax(0)
        score = choice.max(0) + log_probs[t, states]
    end = n - 1 if score[n - 1] >= score[n - 2] else n - 2
    if score[end] == NEG_INF:
        return []
    path = np.empty(steps, np.int64)
    for t in range(steps - 1, -1, -1):
        path[t] = end
        end -= int(back[t, end])
    spans: dict[int, list[int]] = {}
    for t, state in enumerate(path):
        if state % 2 == 1:
            spans.setdefault(state // 2, [t, t])[1] = t
    return [(i, a, b) for i, (a, b) in sorted(spans.items())]


def word_times(log_probs: np.ndarray, alphabet: str, text: str, seconds_per_step: float) -> list[Word]:
    """Words of ``text`` with start/end times (first letter's first step to last letter's last step)
    and a confidence from the alignment."""
    spans = align(log_probs, alphabet, text)
    if not spans:
        return []
    at = {i: (a, b) for i, a, b in spans}
    words, position = [], 0
    for word in text.split(" "):
        letters = range(position, position + len(word))
        position += len(word) + 1
        first, last = at[letters[0]][0], at[letters[-1]][1]
        logp = [log_probs[a: b + 1, alphabet.index(text[i])].max() for i in letters for a, b in [at[i]]]
        words.append(Word(word, first * seconds_per_step, (last + 1) * seconds_per_step,
                          float(np.exp(np.mean(logp)))))
    return words


def edit_distance(reference: list[str], hypothesis: list[str]) -> int:
    """Levenshtein distance between two token lists (substitutions, insertions, deletions)."""
    row = list(range(len(hypothesis) + 1))
    for i, r in enumerate(reference, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hypothesis, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """Corpus WER: total word edits over total reference words."""
    edits = sum(edit_distance(r.split(), h.split()) for r, h in zip(references, hypotheses))
    return edits / max(1, sum(len(r.split()) for r in references))
