"""The crisis reader's n-gram features equal scikit-learn's TfidfVectorizer's, which fitted them."""

import numpy as np
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer

from retrieval.ngrams import CHARS, WORDS, NgramModel, char_ngrams, word_ngrams

TEXTS = ["I have been saving up my pills", "ya no quiero despertar mañana", "kys lol jk... does ket help?",
         "Is ketamine   addictive?\nreally?", "tonight's the night", "a b c", "我很好", "sewerslide brain again"]


def test_analyzers_equal_scikit_learns():
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=CHARS).build_analyzer()
    words = TfidfVectorizer(analyzer="word", ngram_range=WORDS).build_analyzer()
    for text in TEXTS:
        assert char_ngrams(text) == chars(text)
        assert sorted(word_ngrams(text)) == sorted(words(text))


def test_features_and_probabilities_equal_scikit_learns():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    model = NgramModel.fit(TEXTS * 2, np.concatenate([y, y]), c=10.0)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=CHARS, sublinear_tf=True, vocabulary=model.char_vocab)
    words = TfidfVectorizer(analyzer="word", ngram_range=WORDS, sublinear_tf=True, vocabulary=model.word_vocab)
    chars.fit(TEXTS * 2)
    words.fit(TEXTS * 2)
    reference = hstack([chars.transform(TEXTS), words.transform(TEXTS)]).toarray()
    for row, text in zip(reference, TEXTS):
        cols, vals = model.features(text)
        mine = np.zeros(len(row))
        mine[cols] = vals
        assert np.allclose(mine, row, atol=1e-9)
    z = reference @ model.coef + model.intercept
    assert np.allclose(model.proba(TEXTS)[:, 1], 1 / (1 + np.exp(-z)))
