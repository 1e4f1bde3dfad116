"""Skip-gram: data pipeline, losses against hand computations, gradients, training, and the vector queries."""

import math

import numpy as np
import pytest
import torch

from mlcourse.embeddings.skipgram import (
    SkipGram, SkipGramConfig, full_softmax_loss, negative_sampling_loss, negative_sampling_sgd_step,
    shared_negatives_sgd_step, train_skipgram,
)
from mlcourse.embeddings.skipgram_data import (
    Vocab, keep_probabilities, keep_probability, noise_distribution, skipgram_pairs, tokenize_words,
)
from mlcourse.embeddings.word_vectors import (
    analogy, analogy_questions, evaluate_analogies, nearest_neighbours, neighbour_overlap, pca_2d, unit_rows,
)


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread is as fast as two and does not stall when the CPU is shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# A tiny corpus with structure: two "topics" whose words only co-occur with each other.
TOPIC_A = "king queen crown throne lord lady".split()
TOPIC_B = "fish sea boat net wave shore".split()


def tiny_corpus(n=300, seed=0):
    rng = np.random.default_rng(seed)
    return [list(rng.choice(TOPIC_A if i % 2 else TOPIC_B, size=6)) for i in range(n)]


def test_tokenize_keeps_inner_apostrophes_and_drops_punctuation():
    assert tokenize_words("O'er the hills, 'tis MY lord!") == ["o'er", "the", "hills", "'tis", "my", "lord"]


def test_vocab_orders_by_count_and_drops_rare_words():
    vocab = Vocab.build([["a", "b", "a"], ["c", "a", "b"]], min_count=2)
    assert vocab.words == ["a", "b"] and vocab.counts.tolist() == [3, 2]
    assert vocab.encode(["c", "b", "a"]).tolist() == [1, 0]
    with pytest.raises(ValueError, match="min_count"):
        Vocab.build([["a"]], min_count=2)


def test_subsampling_keeps_rare_words_and_drops_frequent_ones():
    keep = keep_probabilities(np.array([10_000, 10]), threshold=1e-3)
    assert keep[1] == 1.0 and keep[0] < 0.1
    assert (keep_probabilities(np.array([10_000, 10]), 0) == 1).all()


def test_pairs_stay_inside_window_and_sentence():
    sentences = [np.array([0, 1, 2, 3]), np.array([4, 5])]
    c, o = skipgram_pairs(sentences, window=1, rng=np.random.default_rng(0), shrink_window=False)
    pairs = set(zip(c.tolist(), o.tolist()))
    assert pairs == {(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2), (4, 5), (5, 4)}  # never (3, 4)


def test_noise_distribution_is_unigram_to_three_quarters():
    p = noise_distribution(np.array([16, 1]))
    assert torch.allclose(p, torch.tensor([8 / 9, 1 / 9]))


def test_negative_sampling_loss_matches_hand_computation():
    model = SkipGram(4, 2)
    with torch.no_grad():
        model.center.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.5, -1.0]]))
        model.context.weight.copy_(torch.tensor([[0.0, 2.0], [1.0, 0.0], [-1.0, 1.0], [0.5, 0.5]]))
    loss = negative_sampling_loss(model, torch.tensor([2]), torch.tensor([1]), torch.tensor([[0, 3]]))
    v = (1.0, 1.0)  # center 2; context 1 scores 1, negatives 0 and 3 score 2 and 1
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    expected = -math.log(sig(1.0)) - math.log(sig(-2.0)) - math.log(sig(-1.0))
    assert v == (1.0, 1.0) and loss.item() == pytest.approx(expected, rel=1e-6)


def test_full_softmax_loss_is_cross_entropy_over_the_vocabulary():
    model = SkipGram(3, 2)
    with torch.no_grad():
        model.context.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
        model.center.weight.copy_(torch.tensor([[2.0, 0.0], [0.0, 0.0], [0.0, 0.0]]))
    loss = full_softmax_loss(model, torch.tensor([0]), torch.tensor([0]))
    assert loss.item() == pytest.approx(-math.log(math.exp(2) / (math.exp(2) + 2)), rel=1e-6)


def test_gradients_flow_to_both_tables_and_sgd_step_matches_autograd():
    torch.manual_seed(0)
    model = SkipGram(10, 4)
    with torch.no_grad():
        model.context.weight.normal_()
    c, o, neg = torch.tensor([1, 2, 1]), torch.tensor([3, 4, 5]), torch.tensor([[6, 7], [8, 9], [0, 3]])
    # autograd on the summed loss; the hand-written step applies -lr * gradient
    loss = negative_sampling_loss(model, c, o, neg) * len(c)
    loss.backward()
    assert model.center.weight.grad[1].abs().sum() > 0 and model.context.weight.grad[3].abs().sum() > 0
    expected_center = model.center.weight.detach() - 0.1 * model.center.weight.grad
    expected_context = model.context.weight.detach() - 0.1 * model.context.weight.grad
    step_loss = negative_sampling_sgd_step(model, c, o, neg, lr=0.1)
    assert step_loss == pytest.approx(loss.item() / len(c), rel=1e-5)
    assert torch.allclose(model.center.weight, expected_center, atol=1e-6)
    assert torch.allclose(model.context.weight, expected_context, atol=1e-6)


def test_shared_negatives_step_is_sgd_on_the_pool_weighted_loss():
    """Two groups of 3 pairs, each with its own pool of 4 noise words weighted k / N = 2 / 4 (autograd reference)."""
    torch.manual_seed(0)
    model = SkipGram(12, 5)
    with torch.no_grad():
        model.context.weight.normal_()
    c, o = torch.tensor([1, 2, 1, 3, 4, 5]), torch.tensor([3, 4, 5, 6, 7, 8])
    pools = torch.tensor([[6, 7, 9, 9], [0, 1, 10, 11]])  # (groups, N): a repeated word counts twice
    v, u = model.center(c), model.context
    neg_scores = torch.einsum("gpd,gnd->gpn", v.view(2, 3, 5), u(pools))  # (groups, G, N)
    loss = -(torch.nn.functional.logsigmoid((u(o) * v).sum(-1)).sum()
             + 2 / 4 * torch.nn.functional.logsigmoid(-neg_scores).sum())
    loss.backward()
    expected_center = model.center.weight.detach() - 0.1 * model.center.weight.grad
    expected_context = model.context.weight.detach() - 0.1 * model.context.weight.grad
    # the logged loss: exact positive term, pool term estimated on the first group
    logged = -(torch.nn.functional.logsigmoid((u(o) * v).sum(-1)).mean()
               + 2 / 4 * torch.nn.functional.logsigmoid(-neg_scores[0]).sum(-1).mean()).item()
    step_loss = shared_negatives_sgd_step(model, c, o, pools, k=2, lr=0.1)
    assert step_loss == pytest.approx(logged, rel=1e-5)
    assert torch.allclose(model.center.weight, expected_center, atol=1e-6)
    assert torch.allclose(model.context.weight, expected_context, atol=1e-6)


def test_shared_negatives_training_separates_topics():
    sentences = tiny_corpus()
    vocab = Vocab.build(sentences, min_count=1)
    ids = [vocab.encode(s) for s in sentences]
    cfg = SkipGramConfig(dim=8, window=2, epochs=8, batch_size=64, pool_group=16, negative_pool=8, lr=0.005,
                         subsample=0)  # 4 groups of 16 pairs per batch, each with 8 shared noise words
    model, history = train_skipgram(ids, vocab.counts, cfg, progress=False, log_every=5)
    assert history[-1]["loss"] < history[0]["loss"] * 0.9
    unit = unit_rows(model.vectors)
    a, b = vocab.encode(TOPIC_A), vocab.encode(TOPIC_B)
    assert (unit[a] @ unit[a].T).mean() > (unit[a] @ unit[b].T).mean() + 0.2


def test_keep_probability_follows_the_formula_at_given_frequencies():
    t = 1e-3
    freqs = np.array([0.1, 1e-2, 2.618 * t, 1e-3])
    expected = np.minimum(1, (np.sqrt(freqs / t) + 1) * t / freqs)
    assert np.allclose(keep_probability(freqs, t), expected)
    assert keep_probability(np.array([1e-3]), t)[0] == 1.0  # f = t is kept always (the old cell printed 0.53)
    counts = np.array([900, 90, 10])
    assert np.allclose(keep_probabilities(counts, t), keep_probability(counts / counts.sum(), t))


def test_negative_sampling_rejects_wrong_negative_shape():
    with pytest.raises(ValueError, match=r"\(B, K\)"):
        negative_sampling_loss(SkipGram(5, 2), torch.tensor([0, 1]), torch.tensor([1, 2]), torch.tensor([0, 1]))


@pytest.mark.parametrize("objective", ["negative", "softmax"])
def test_training_lowers_the_loss_and_separates_topics(objective):
    sentences = tiny_corpus()
    vocab = Vocab.build(sentences, min_count=1)
    ids = [vocab.encode(s) for s in sentences]
    # a 12-word vocabulary puts each word ~10 times in a batch of 64: summed SGD updates need a small lr
    lr = 0.005 if objective == "negative" else 0.05
    cfg = SkipGramConfig(dim=8, window=2, epochs=8, batch_size=64, lr=lr, subsample=0, objective=objective)
    model, history = train_skipgram(ids, vocab.counts, cfg, progress=False, log_every=5)
    assert history[-1]["loss"] < history[0]["loss"] * 0.9
    unit = unit_rows(model.vectors)
    a, b = vocab.encode(TOPIC_A), vocab.encode(TOPIC_B)
    within = (unit[a] @ unit[a].T).mean()
    across = (unit[a] @ unit[b].T).mean()
    assert within > across + 0.2


def test_training_is_deterministic_with_a_seed():
    sentences = tiny_corpus(60)
    vocab = Vocab.build(sentences, min_count=1)
    ids = [vocab.encode(s) for s in sentences]
    cfg = SkipGramConfig(dim=4, window=2, epochs=2, batch_size=64, seed=3)
    m1, _ = train_skipgram(ids, vocab.counts, cfg, progress=False)
    m2, _ = train_skipgram(ids, vocab.counts, cfg, progress=False)
    m3, _ = train_skipgram(ids, vocab.counts, SkipGramConfig(dim=4, window=2, epochs=2, batch_size=64, seed=4),
                           progress=False)
    assert torch.equal(m1.vectors, m2.vectors) and not torch.equal(m1.vectors, m3.vectors)


def test_training_rejects_ids_outside_the_vocabulary():
    with pytest.raises(ValueError, match="ids in"):
        train_skipgram([np.array([0, 7])], np.array([3, 2]), SkipGramConfig(dim=2), progress=False)


def test_analogy_excludes_the_query_words():
    # b - a + c lands exactly on c's vector; without exclusion the answer would be c itself.
    vectors = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.1, 1.0]])
    top = analogy(vectors, a=[0], b=[1], c=[2], k=1)
    assert top.tolist() == [[3]]


def test_evaluate_analogies_on_planted_structure():
    words = ["man", "woman", "king", "queen", "boy", "girl"]
    gender, royal, young = torch.tensor([0.0, 0, 1]), torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 1, 0])
    base = {"man": torch.zeros(3), "king": royal, "boy": young}
    vecs = []
    for w in words:
        male = {"woman": "man", "queen": "king", "girl": "boy"}.get(w, w)
        vecs.append(base[male] + (gender if male != w else 0) + 0.3 * torch.ones(3))
    questions = analogy_questions(words, {"gender": [("man", "woman"), ("king", "queen"), ("boy", "girl")]})
    assert len(questions) == 6
    result = evaluate_analogies(torch.stack(vecs), words, questions)
    assert result["accuracy"] == 1.0 and result["by_category"] == {"gender": 1.0}


def test_neighbours_overlap_and_pca_shapes():
    torch.manual_seed(0)
    vectors = torch.randn(20, 5)
    ids, sims = nearest_neighbours(vectors, [0, 1, 2], k=4)
    assert ids.shape == sims.shape == (3, 4) and 0 not in ids[0].tolist()
    assert (sims[:, :-1] >= sims[:, 1:]).all()
    assert neighbour_overlap(vectors, 2 * vectors, range(20), k=4) == 1.0
    coords, share = pca_2d(vectors)
    assert coords.shape == (20, 2) and share[0] >= share[1] and share.sum() <= 1


def test_exercise_checks_pass_the_references_and_flag_stubs_and_mistakes():
    from mlcourse.checks import p12_25_embeddings as ch

    assert ch.check_cbow_loss(ch.reference_cbow_loss, verbose=False)
    assert ch.check_char_ngrams(ch.reference_char_ngrams, verbose=False)
    assert ch.check_3cosmul(ch.reference_3cosmul, verbose=False)

    def stub(*args):
        raise NotImplementedError

    assert ch.check_cbow_loss(stub, verbose=False).status == "not attempted"
    summed = ch.check_cbow_loss(lambda m, x, c, n: ch.reference_cbow_loss(m, x, c, n) * x.shape[1], verbose=False)
    assert summed.status == "failed"
    assert ch.reference_char_ngrams("ab", 3, 3) == ["<ab", "ab>"]
    reversed_order = ch.check_char_ngrams(lambda w, lo, hi: ch.reference_char_ngrams(w, lo, hi)[::-1], verbose=False)
    assert reversed_order.status == "failed" and "order" in reversed_order.detail
