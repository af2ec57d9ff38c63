"""The CTC transcriber: decoding on hand-made posteriors, the model's shapes, training pieces, and the
shipped checkpoint on the bundled example utterances."""

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from neural_audio.decoding import Lexicon, align, beam_search, edit_distance, greedy, word_error_rate, word_times
from neural_audio.models.ctc import ALPHABET, CTCTranscriber
from neural_audio.train.ctc import MelAugment, collate, encode_text, length_batches, scores

from conftest import SR, tone

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["one", "two", "three", "four", "on", "off", "tree", "go"]


def posteriors(path: str, sure: float = 0.9) -> np.ndarray:
    """Log-probabilities putting ``sure`` on each step's symbol of ``path`` ('_' = blank) and the rest evenly."""
    probs = np.full((len(path), len(ALPHABET)), (1 - sure) / (len(ALPHABET) - 1))
    for t, c in enumerate(path):
        probs[t, ALPHABET.index(c)] = sure
    return np.log(probs)


def test_greedy_merges_repeats_and_drops_blanks():
    assert greedy(posteriors("__oo_nne__ __tt_w_oo_"), ALPHABET) == "one two"
    assert greedy(posteriors("thr_ee"), ALPHABET) == "thre"  # a doubled letter needs a blank between
    assert greedy(posteriors("thre_e"), ALPHABET) == "three"
    assert greedy(posteriors("____"), ALPHABET) == ""


def test_beam_search_finds_the_likely_spelling_that_greedy_misses():
    # Each step: blank 0.55 or 'o' 0.45. Greedy says nothing, but the summed paths that emit 'o'
    # outweigh the all-blank path (1 - 0.55^3 > 0.55^3).
    probs = np.full((3, len(ALPHABET)), 1e-6)
    probs[:, 0], probs[:, ALPHABET.index("o")] = 0.55, 0.45
    lp = np.log(probs / probs.sum(1, keepdims=True))
    assert greedy(lp, ALPHABET) == ""
    assert beam_search(lp, ALPHABET) == "o"


def test_lexicon_constrains_the_beam_to_vocabulary_words():
    lp = posteriors("t_w_o_ _t_v_o_", sure=0.6)
    # step 10 leans to 'v' (0.5) over 'w' (0.4): only the lexicon makes "two" win over "tvo"
    row = np.full(len(ALPHABET), 0.1 / (len(ALPHABET) - 2))
    row[ALPHABET.index("v")], row[ALPHABET.index("w")] = 0.5, 0.4
    lp[10] = np.log(row)
    assert greedy(lp, ALPHABET) == "two tvo"
    assert beam_search(lp, ALPHABET) == "two tvo"
    assert beam_search(lp, ALPHABET, Lexicon(WORDS)) == "two two"


def test_lexicon_needs_complete_words_and_keeps_repeated_letters_apart():
    lexicon = Lexicon(WORDS)
    assert lexicon.allows("thr") and lexicon.allows("two th") and not lexicon.allows("tw th")
    assert lexicon.complete("one two") and not lexicon.complete("one tw")
    assert beam_search(posteriors("tt_h_rr_e_e_"), ALPHABET, lexicon) == "three"
    # "tre" is no word; the beam must end on a complete one ("tree" needs the second 'e' after a blank)
    assert beam_search(posteriors("t_r_e__e"), ALPHABET, lexicon) == "tree"
    assert beam_search(posteriors("________"), ALPHABET, lexicon) == ""


def test_digit_string_prior_settles_a_close_call_only_among_digits():
    def doubtful_h(before: str) -> np.ndarray:
        # "<before> th?ree four": the 'h' step is blank 0.6 or 'h' 0.4, so acoustically "tree" wins
        lp = posteriors(f"{before} _t_h_r_e_e_ _f_o_u_r_")
        at = len(before) + 4
        row = np.full(len(ALPHABET), 1e-6)
        row[0], row[ALPHABET.index("h")] = 0.6, 0.4
        lp[at] = np.log(row / row.sum())
        return lp

    words = [*WORDS, "dog"]
    plain, prior = Lexicon(words), Lexicon(words, digit_strings=0.6)
    assert beam_search(doubtful_h("_o_n_e_"), ALPHABET, plain) == "one tree four"
    assert beam_search(doubtful_h("_o_n_e_"), ALPHABET, prior) == "one three four"
    assert beam_search(doubtful_h("_d_o_g_"), ALPHABET, prior) == "dog tree four"  # not a digit string anyway
    # Relative to the any-words mode: 0 off digit strings, log(1 + 0.6/0.4 * (9/4)^k) on them (4 of 9 words are digits)
    assert prior.prior("dog th") == 0.0 and prior.prior("one tr") == 0.0 and plain.prior("one two") == 0.0
    assert prior.prior("") == pytest.approx(math.log1p(1.5))
    assert prior.prior("one th") == pytest.approx(math.log1p(1.5 * (9 / 4) ** 2))
    assert prior.prior("one two ") == prior.prior("one th")  # a finished word counts once, partial or not


def test_alignment_gives_each_letter_its_steps_and_words_their_times():
    lp = posteriors("__oo_nne_____ ___tt_w_oo__")
    spans = align(lp, ALPHABET, "one two")
    assert [(i, a, b) for i, a, b in spans] == [(0, 2, 3), (1, 5, 6), (2, 7, 7), (3, 13, 13), (4, 17, 18),
                                                (5, 20, 20), (6, 22, 23)]
    words = word_times(lp, ALPHABET, "one two", seconds_per_step=0.04)
    assert [w.word for w in words] == ["one", "two"]
    assert words[0].start == pytest.approx(0.08) and words[0].end == pytest.approx(0.32)
    assert words[1].start == pytest.approx(0.68) and words[1].end == pytest.approx(0.96)
    assert all(0.85 < w.score <= 0.9 for w in words)
    assert align(lp[:3], ALPHABET, "one two") == []  # does not fit in three steps


def test_word_error_rate_and_scores():
    assert edit_distance("a b c".split(), "a x c d".split()) == 2
    assert word_error_rate(["one two three", "go"], ["one three", "go"]) == pytest.approx(1 / 4)
    s = scores(["one two", "go left", "nine"], ["one two", "go", "five"])
    assert s["digit_strings"] == 2 and s["digit_string_accuracy"] == 0.5
    assert s["sentence_accuracy"] == pytest.approx(1 / 3, abs=1e-4) and s["wer"] == pytest.approx(2 / 5)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return CTCTranscriber(WORDS, channels=32, hidden=24, layers=1, blocks=1).eval()


@pytest.mark.parametrize("samples", [1, 159, 161, 16000 + 37, 3 * 16000 + 1])
def test_model_shapes_for_odd_lengths(tiny, samples):
    x = torch.randn(1, samples) * 0.1
    log_probs = tiny(x)
    frames = tiny.front.num_frames(samples)
    assert log_probs.shape == (1, CTCTranscriber.steps(frames), len(ALPHABET))
    assert torch.allclose(log_probs.exp().sum(-1), torch.ones(1, log_probs.shape[1]), atol=1e-5)
    assert tiny.seconds_per_step == pytest.approx(0.04)


def test_padding_in_a_batch_does_not_change_an_utterance(tiny):
    short, long = torch.from_numpy(tone(seconds=0.7)), torch.randn(SR) * 0.1
    alone = tiny(short[None])[0]
    mels = [tiny.front(short), tiny.front(long)]
    mel, frames = collate(mels, math.log(tiny.mel_spec.log_floor))
    batched, steps = tiny.forward_mel(mel, frames)
    assert int(steps[0]) == alone.shape[0]
    assert torch.allclose(batched[0, : steps[0]], alone, atol=1e-4)


def test_training_pieces():
    assert encode_text("go on") == [ALPHABET.index(c) for c in "go on"] and 0 not in encode_text("go on")
    lengths = np.random.default_rng(0).integers(50, 300, 1000)
    batches = length_batches(lengths, 16, seed=0, epoch=0, pool=8)
    assert len(batches) == 7 * 8 + 6  # seven full pools of 8 batches, 104 left make 6 (8 dropped)
    assert len({int(i) for b in batches for i in b}) == sum(len(b) for b in batches)  # no utterance twice
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < 0.25 * np.ptp(lengths)  # pooled sorting keeps batches' lengths close
    assert [b.tolist() for b in length_batches(lengths, 16, 0, 1, 8)] != [b.tolist() for b in batches]
    floor = -20.0
    augment = MelAugment(np.random.default_rng(1).normal(-8, 1, (2000, 80)), floor, seed=0)
    item = augment.item(np.random.default_rng(2).normal(-6, 2, (120, 80)).astype(np.float16))
    assert item.shape[0] == 80 and 120 * 0.85 < item.shape[1] < 120 * 1.15 + 80 and item.min() >= floor
    mel, frames = collate([item, item[:, :50]], floor)
    out = augment.batch(mel, frames)
    assert out.shape == mel.shape and torch.isfinite(out).all() and not torch.equal(out, mel)


def test_band_limit_drops_the_bands_past_a_cut_off_to_the_floor():
    floor = math.log(1e-5)  # the ctc front end's
    augment = MelAugment(np.zeros((0, 80)), floor, seed=0, p_band=1.0)
    x = torch.full((80, 30), -5.0)
    cut = []
    for _ in range(40):
        y = augment._band_limit(x)
        assert y.shape == x.shape and y.min() >= floor and (y <= x).all()
        kept = (y == x).all(1)
        # The bands fall away over a few hundred hertz: nothing is left 300 Hz past the highest cut-off.
        assert kept.any() and (y[augment.centres > 7800] == floor).all()
        assert torch.equal(kept, (augment.centres >= augment.centres[kept].min())
                           & (augment.centres <= augment.centres[kept].max()))  # one pass band
        cut.append(float(augment.centres[kept].max()))
    assert min(cut) < 3900 and max(cut) > 4000  # telephone channels and wider cut-offs both occur


def test_wall_times_warms_up_times_each_call_and_restores_threads():
    from neural_audio.train.common import wall_times

    calls = []
    before = torch.get_num_threads()
    times = wall_times(lambda: calls.append(torch.get_num_threads()), repeats=3, warmup=2, threads=before + 1)
    assert len(times) == 3 and all(t >= 0 for t in times)
    assert calls == [before + 1] * 5 and torch.get_num_threads() == before


# --- the shipped checkpoint -------------------------------------------------------------------

EXAMPLES = {"words-three-one-four": "three one four", "words-go-left-stop": "go left stop",
            "words-seven-two-nine-five": "seven two nine five", "words-happy-bird": "happy bird"}


@pytest.mark.parametrize("stem", sorted(EXAMPLES))
def test_shipped_checkpoint_transcribes_the_bundled_examples(stem):
    from neural_audio.inference import transcribe

    result = transcribe(ROOT / "examples" / f"{stem}.wav")
    assert result.text == EXAMPLES[stem]
    times = [(w.start, w.end) for w in result.words]
    assert all(0 <= a < b <= result.duration + 0.05 for a, b in times)
    assert all(b1 <= a2 + 1e-6 for (_, b1), (a2, _) in zip(times, times[1:]))  # in order, not overlapping
    # the examples have 0.15 s of silence either side: the words lie within the sound
    assert times[0][0] >= 0.1 and times[-1][1] <= result.duration - 0.1


def _tiny_connected_words(root):
    """Each split's person says two short word sequences (tones); same words as the tiny Speech Commands."""
    import soundfile as sf

    for k, (split, person) in enumerate((("train", "aaaa1111"), ("valid", "bbbb2222"), ("test", "cccc3333"))):
        (root / split).mkdir(parents=True)
        rows = ["path,text,speaker,duration"]
        for j, text in enumerate(("yes no", "up yes no")):
            audio = np.concatenate([tone(300 + 200 * ("yes", "no", "up").index(w) + 50 * k, 0.4) for w in text.split()])
            sf.write(root / split / f"{person}_{j:03d}.wav", audio, SR)
            rows.append(f"{split}/{person}_{j:03d}.wav,{text},{person},{len(audio) / SR:.4f}")
        (root / f"{split}.csv").write_text("\n".join(rows) + "\n")
    return root


def test_final_run_on_train_and_validation_ships_the_last_step(tmp_path, stand_in_prompts, capsys):
    import json

    from safetensors.torch import load_file

    from neural_audio.cli import build_parser
    from neural_audio.data.datasets import ConnectedWords
    from neural_audio.train.common import MelCache
    from neural_audio.train.ctc import train

    from conftest import tiny_speech_commands

    connected = _tiny_connected_words(tmp_path / "cw")
    assert [text for _, text in ConnectedWords(connected, ("train", "valid"))] == ["yes no", "up yes no"] * 2
    words = tiny_speech_commands(tmp_path / "sc")
    work = tmp_path / "work"
    args = build_parser().parse_args([
        "train", "ctc", "--data", str(connected), str(words), "--work", str(work), "--out", str(tmp_path / "out"),
        "--steps", "2", "--batch", "2", "--warmup", "1", "--channels", "8", "--hidden", "8", "--layers", "1",
        "--blocks", "1", "--valid", "2", "--eval-every", "1", "--train-splits", "train", "valid", "--threads", "1"])
    assert train(args) == 0
    args.steps = 3
    assert train(args) == 0  # resumes at step 2
    assert [row.split(",")[1] for row in (work / "log.csv").read_text().splitlines()[1:]] == ["1", "2", "3"]
    # Both persons' utterances and single words were trained on; none of the test person's.
    cache = MelCache.load(work / "cache-train+valid")
    assert sorted(cache.sources) == sorted(["yes no", "up yes no"] * 2 + ["yes", "no", "up"] * 2)
    summary = json.loads((work / "train_summary.json").read_text())
    assert summary["shipped"] == "last" and summary["best_valid_wer_greedy"] is None and summary["steps"] == 3
    assert not (work / "best").exists()  # nothing held out to pick a step with
    state, shipped = load_file(work / "state.safetensors"), load_file(tmp_path / "out" / "model.safetensors")
    assert all(torch.equal(v, state[f"model/{k}"]) for k, v in shipped.items())

    # evaluate: the test person, the same utterances through a telephone channel, and the real digits
    # (here three stand-in recordings) alone and spliced into strings.
    from neural_audio.train.ctc import evaluate

    capsys.readouterr()
    assert evaluate(build_parser().parse_args([
        "evaluate", "ctc", "--data", str(connected), "--model", str(tmp_path / "out"),
        "--report", str(tmp_path / "eval"), "--json"])) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["test_utterances"] == 2 and 0 <= results["wer"]
    assert results["telephone_band"]["utterances"] == 2 and 0 <= results["telephone_band"]["wer"]
    real = results["real_digits"]
    assert real["found"] and real["single_digits"]["utterances"] == 3 and real["spliced_strings"]["utterances"] == 30
    assert len(real["single_digits"]["errors"]) == round(3 * (1 - real["single_digits"]["sentence_accuracy"]))


def test_persons_trains_on_whole_connected_persons_with_their_single_words(tmp_path, stand_in_prompts, capsys,
                                                                          caplog):
    import json

    import soundfile as sf

    from neural_audio.cli import build_parser
    from neural_audio.train.ctc import clip_persons, evaluate, train

    from conftest import tiny_speech_commands

    connected = _tiny_connected_words(tmp_path / "cw")
    words = tiny_speech_commands(tmp_path / "sc")
    sf.write(words / "yes" / "dddd4444_nohash_0.wav", tone(900, 0.8), SR)  # says single words only
    header = "speaker,engine,voice,person,split,variant,speed,pitch\n"
    people = "aaaa1111,espeak,en-us,pa,train,,1,1\nbbbb2222,espeak,en-gb,pb,valid,,1,1\ncccc3333,espeak,en,pc,test,,1,1\n"
    (connected / "speakers.csv").write_text(header + people)
    (words / "speakers.csv").write_text(header + people + "dddd4444,kokoro,af,pk,train,,1,1\n")
    data = [str(connected), str(words)]
    said, single = clip_persons(data, ["train", "valid"])
    assert said == ["pa", "pa", "pb", "pb"] and sorted(single) == ["pa"] * 3 + ["pb"] * 3 + ["pk"]

    work = tmp_path / "work"
    argv = ["train", "ctc", "--data", *data, "--work", str(work), "--out", str(tmp_path / "out"), "--steps", "1",
            "--batch", "2", "--warmup", "1", "--channels", "8", "--hidden", "8", "--layers", "1", "--blocks", "1",
            "--valid", "2", "--train-splits", "train", "valid", "--threads", "1", "--persons", "1"]
    with caplog.at_level("WARNING", logger="neural_audio.train.ctc"):
        assert train(build_parser().parse_args(argv)) == 0
    # one of the two connected persons: their 2 utterances and 3 single words, never pk's word
    assert re.search(r"Training on 1 of 2 persons \(5 utterances\): p[ab]$", caplog.text, re.M)
    assert json.loads((work / "train_summary.json").read_text())["persons"] == 1
    with pytest.raises(SystemExit, match="between 1 and 2, the persons"):
        train(build_parser().parse_args([*argv[:-1], "3"]))

    capsys.readouterr()
    assert evaluate(build_parser().parse_args([
        "evaluate", "ctc", "--data", str(connected), "--model", str(tmp_path / "out"), "--report",
        str(tmp_path / "eval"), "--json", "--peers", "--split", "valid"])) == 0
    results = json.loads(capsys.readouterr().out)
    assert results["split"] == "valid" and results["test_utterances"] == 2 and list(results["per_person"]) == ["espeak:pb"]
