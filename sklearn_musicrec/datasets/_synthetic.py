"""Synthetic listening data with planted taste structure."""

import numpy as np
import scipy.sparse as sp
from sklearn.utils import Bunch, check_random_state

from ..utils._sklearn_compat import Integral, Interval, Real, validate_params

__all__ = ["make_interactions"]

_GENRES = [
    "rock",
    "pop",
    "hip-hop",
    "electronic",
    "jazz",
    "classical",
    "metal",
    "folk",
    "country",
    "r&b",
    "reggae",
    "blues",
    "punk",
    "soul",
    "latin",
    "ambient",
]
_MOODS = [
    "happy",
    "sad",
    "energetic",
    "chill",
    "dark",
    "romantic",
    "angry",
    "dreamy",
    "uplifting",
    "melancholic",
]
_EPOCH_2020 = 1_577_836_800  # 2020-01-01T00:00:00Z
_TWO_YEARS = 2 * 365 * 24 * 3600


def _names(base, n, prefix):
    return np.array(base[:n] + [f"{prefix}_{i}" for i in range(len(base), n)])


def _sample_sorted(offset_cdf, group, u01):
    """Inverse-CDF sampling within groups of a concatenated, offset CDF.

    ``offset_cdf`` holds, for each group ``g``, that group's normalised CDF
    plus ``g``; drawing ``searchsorted(offset_cdf, group + u)`` samples from
    the group's distribution for every draw at once.
    """
    pos = np.searchsorted(offset_cdf, group + u01, side="right")
    return np.minimum(pos, offset_cdf.size - 1)


def _unique_sorted(sorted_keys):
    """Unique values and counts of a sorted array (faster than np.unique here)."""
    if sorted_keys.size == 0:
        return sorted_keys, np.empty(0, dtype=np.int64)
    start = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    counts = np.diff(np.r_[start, sorted_keys.size])
    return sorted_keys[start], counts


@validate_params(
    {
        "n_users": [Interval(Integral, 1, None, closed="left")],
        "n_items": [Interval(Integral, 2, None, closed="left")],
        "n_genres": [Interval(Integral, 1, None, closed="left")],
        "n_moods": [Interval(Integral, 1, None, closed="left")],
        "mean_items_per_user": [Interval(Real, 1, None, closed="left")],
        "popularity_exponent": [Interval(Real, 0, None, closed="left")],
        "taste_concentration": [Interval(Real, 0, None, closed="neither")],
        "noise": [Interval(Real, 0, 1, closed="both")],
        "return_timestamps": ["boolean"],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_interactions(
    n_users: int = 1000,
    n_items: int = 500,
    *,
    n_genres: int = 8,
    n_moods: int = 4,
    mean_items_per_user: float = 20.0,
    popularity_exponent: float = 1.0,
    taste_concentration: float = 0.3,
    noise: float = 0.1,
    return_timestamps: bool = False,
    random_state: int | np.random.RandomState | None = None,
) -> Bunch:
    """Generate a user x item play-count matrix with planted taste structure.

    Every item has one genre, one mood and a power-law popularity. Every user
    is a mixture of tastes: a Dirichlet distribution over genres (a low
    ``taste_concentration`` gives each user one to three favourite genres)
    and a milder one over moods. A user's listening events pick an item with
    probability proportional to ``popularity ** 1`` times the user's weight
    for the item's genre and mood; a share ``noise`` of events ignores taste
    and follows popularity alone. Play counts grow with the number of events
    and with the user's affinity for the genre, times a heavy-tailed
    (log-normal) repeat factor, as in real listening logs.

    Parameters
    ----------
    n_users : int, default=1000
        Number of users (rows).
    n_items : int, default=500
        Number of items (columns).
    n_genres : int, default=8
        Number of latent genres; named after real genres where possible.
    n_moods : int, default=4
        Number of latent moods.
    mean_items_per_user : float, default=20.0
        Mean number of distinct items per user (log-normally distributed,
        at least 1, at most ``n_items // 2``).
    popularity_exponent : float, default=1.0
        Exponent ``a`` of the Zipf-like item popularity ``rank ** -a``;
        0 gives uniform popularity.
    taste_concentration : float, default=0.3
        Dirichlet concentration of users' genre tastes; smaller is more
        focused.
    noise : float, default=0.1
        Share of listening events drawn from popularity alone.
    return_timestamps : bool, default=False
        Also return a matrix of first-play times.
    random_state : int, RandomState instance or None, default=None
        Seed for reproducible output.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with attributes:

        data : scipy.sparse.csr_matrix of shape (n_users, n_items)
            Play counts (float64, integral values >= 1 where non-zero).
        item_tags : scipy.sparse.csr_matrix of shape (n_items, n_genres + n_moods)
            How many users tagged each item with each genre or mood tag
            (mostly the item's own genre and mood, sometimes a wrong genre).
        tag_names : ndarray of str of shape (n_genres + n_moods,)
            Names of the tags (genres first, then moods).
        genre_names, mood_names : ndarray of str
            Names of the genres and moods.
        item_genres, item_moods : ndarray of int of shape (n_items,)
            The planted genre and mood of each item.
        item_popularity : ndarray of shape (n_items,)
            The planted popularity weight of each item (sums to 1).
        user_tastes : ndarray of shape (n_users, n_genres)
            Each user's planted genre mixture (rows sum to 1).
        user_moods : ndarray of shape (n_users, n_moods)
            Each user's planted mood mixture (rows sum to 1).
        timestamps : scipy.sparse.csr_matrix or None
            With ``return_timestamps=True``: the Unix time (seconds) of each
            user's first play of each item, with the sparsity pattern of
            ``data``; users have activity windows inside 2020-2021.
        DESCR : str
            Description of the generator.

    Examples
    --------
    >>> from sklearn_musicrec.datasets import make_interactions
    >>> bunch = make_interactions(n_users=100, n_items=80, random_state=0)
    >>> bunch.data.shape
    (100, 80)
    >>> bunch.item_tags.shape
    (80, 12)
    >>> str(bunch.tag_names[0])
    'rock'
    """
    rng = check_random_state(random_state)
    n_cells = n_genres * n_moods

    # Items: genre (uneven genre sizes), mood, Zipf-like popularity.
    genre_share = rng.dirichlet(np.full(n_genres, 5.0))
    item_genres = rng.choice(n_genres, size=n_items, p=genre_share)
    item_moods = rng.randint(n_moods, size=n_items)
    ranks = rng.permutation(n_items) + 1.0
    popularity = ranks ** (-float(popularity_exponent))
    popularity /= popularity.sum()

    # Users: genre and mood mixtures.
    tastes = rng.dirichlet(np.full(n_genres, float(taste_concentration)), size=n_users)
    moods = rng.dirichlet(np.full(n_moods, 2.0), size=n_users)
    # Dirichlet draws with tiny concentration can underflow to exact zeros.
    tastes = (tastes + 1e-12) / (tastes + 1e-12).sum(axis=1, keepdims=True)

    # Items grouped by (genre, mood) cell, with a within-cell popularity CDF.
    cell_of_item = item_genres * n_moods + item_moods
    order = np.argsort(cell_of_item, kind="stable")
    sorted_cells = cell_of_item[order]
    cell_mass = np.bincount(cell_of_item, weights=popularity, minlength=n_cells)
    within = np.cumsum(popularity[order])
    cell_start = np.searchsorted(sorted_cells, np.arange(n_cells))
    cell_end = np.searchsorted(sorted_cells, np.arange(n_cells), side="right")
    before = np.concatenate([[0.0], within])[cell_start]
    cell_cdf = (within - before[sorted_cells]) / cell_mass[sorted_cells] + sorted_cells
    global_cdf = np.cumsum(popularity)
    global_cdf /= global_cdf[-1]

    # Per-user probabilities of the cells, as offset CDFs for vectorised draws.
    cell_weight = (
        tastes[:, np.arange(n_cells) // n_moods]
        * moods[:, np.arange(n_cells) % n_moods]
        * cell_mass[None, :]
    )
    cell_weight /= cell_weight.sum(axis=1, keepdims=True)
    user_cdf = np.cumsum(cell_weight, axis=1)
    user_cdf /= user_cdf[:, -1:]
    user_cdf = (user_cdf + np.arange(n_users)[:, None]).ravel()

    max_items = max(1, n_items // 2)
    target = np.clip(
        np.rint(rng.lognormal(np.log(mean_items_per_user) - 0.32, 0.8, size=n_users)),
        1,
        max_items,
    ).astype(np.int64)

    def draw(users):
        u01 = rng.random_sample(users.size)
        taste_draw = rng.random_sample(users.size) >= noise
        items = np.empty(users.size, dtype=np.int64)
        tu = users[taste_draw]
        cells = _sample_sorted(user_cdf, tu, u01[taste_draw]) - tu * n_cells
        cells = np.clip(cells, 0, n_cells - 1)  # guard against float rounding
        pos = _sample_sorted(cell_cdf, cells, rng.random_sample(tu.size))
        pos = np.clip(pos, cell_start[cells], cell_end[cells] - 1)
        items[taste_draw] = order[pos]
        n_noise = int((~taste_draw).sum())
        items[~taste_draw] = np.minimum(
            np.searchsorted(global_cdf, rng.random_sample(n_noise), side="right"),
            n_items - 1,
        )
        return items

    # Draw listening events until each user has its target of distinct items
    # (a few rounds; users whose tastes cannot reach the target stop early).
    keys = np.empty(0, dtype=np.int64)
    need = target.copy()
    for _ in range(12):
        users = np.repeat(np.arange(n_users), need)
        if users.size == 0:
            break
        keys = np.concatenate([keys, users * n_items + draw(users)])
        keys.sort()
        uniq, events = _unique_sorted(keys)
        need = np.maximum(target - np.bincount(uniq // n_items, minlength=n_users), 0)
    # trim users that overshot their target in the last round
    rows, cols = uniq // n_items, uniq % n_items
    rank_in_row = np.arange(uniq.size) - np.searchsorted(rows, rows)
    shuffle_rank = np.empty_like(rank_in_row)
    perm = rng.permutation(uniq.size)
    # random rank within each row, so trimming does not favour low item ids
    key_perm = rows[perm] * (uniq.size + 1) + np.arange(uniq.size)
    shuffle_order = perm[np.argsort(key_perm, kind="stable")]
    shuffle_rank[shuffle_order] = rank_in_row
    keep = shuffle_rank < target[rows]
    rows, cols, events = rows[keep], cols[keep], events[keep]

    affinity = tastes[rows, item_genres[cols]] * n_genres
    repeat = rng.lognormal(mean=np.log1p(affinity), sigma=1.0)
    plays = np.maximum(1.0, np.rint(events * repeat))
    data = sp.csr_matrix((plays, (rows, cols)), shape=(n_users, n_items))
    data.sort_indices()

    # Tags: each item tagged with its genre and mood by a popularity-dependent
    # number of users; 10% of items also get one wrong-genre tag.
    scale = 1.0 + 20.0 * popularity / popularity.max()
    genre_count = 2 + rng.poisson(2.0 * scale)  # always above a wrong tag
    mood_count = 1 + rng.poisson(1.0 * scale)
    wrong = rng.random_sample(n_items) < 0.1
    wrong_genre = (item_genres + 1 + rng.randint(max(n_genres - 1, 1), size=n_items)) % n_genres
    tag_rows = np.concatenate([np.arange(n_items), np.arange(n_items), np.flatnonzero(wrong)])
    tag_cols = np.concatenate([item_genres, n_genres + item_moods, wrong_genre[wrong]])
    tag_vals = np.concatenate([genre_count, mood_count, np.ones(int(wrong.sum()))]).astype(
        np.float64
    )
    item_tags = sp.csr_matrix((tag_vals, (tag_rows, tag_cols)), shape=(n_items, n_genres + n_moods))

    genre_names = _names(_GENRES, n_genres, "genre")
    mood_names = _names(_MOODS, n_moods, "mood")

    timestamps = None
    if return_timestamps:
        start = _EPOCH_2020 + rng.randint(0, _TWO_YEARS // 2, size=n_users)
        length = rng.randint(7 * 24 * 3600, _TWO_YEARS // 2, size=n_users)
        t = start[rows] + (rng.random_sample(rows.size) * length[rows]).astype(np.int64)
        timestamps = sp.csr_matrix((t.astype(np.int64), (rows, cols)), shape=(n_users, n_items))
        timestamps.sort_indices()

    descr = (
        "Synthetic listening data from sklearn_musicrec.datasets.make_interactions: "
        f"{n_users} users x {n_items} items, {data.nnz} user-item pairs with play "
        f"counts, {n_genres} genres x {n_moods} moods planted, Zipf popularity "
        f"exponent {popularity_exponent}, taste noise {noise}."
    )
    return Bunch(
        data=data,
        item_tags=item_tags,
        tag_names=np.concatenate([genre_names, mood_names]),
        genre_names=genre_names,
        mood_names=mood_names,
        item_genres=item_genres,
        item_moods=item_moods,
        item_popularity=popularity,
        user_tastes=tastes,
        user_moods=moods,
        timestamps=timestamps,
        DESCR=descr,
    )
