"""Property-based tests of the CSV loader and the scalers (hypothesis, derandomized for repeatable runs)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecaster.data.table import TIME_COLUMN_NAMES, load_csv
from forecaster.errors import BadInput
from forecaster.model.scaling import fit_scaler

PROPERTY = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)
names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(lambda name: name not in TIME_COLUMN_NAMES)


@st.composite
def frames(draw) -> pd.DataFrame:
    """Series on a daily axis; some start late (leading blanks), none has a gap after its start."""
    rows = draw(st.integers(1, 25))
    columns = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    data = {}
    for column in columns:
        values = draw(st.lists(finite, min_size=rows, max_size=rows))
        late = draw(st.integers(0, rows - 1))
        data[column] = [np.nan] * late + values[late:]
    index = pd.date_range(
        draw(st.dates(min_value=pd.Timestamp("1900-01-01").date(), max_value=pd.Timestamp("2200-01-01").date())),
        periods=rows,
        freq="D",
        name="date",
    )
    return pd.DataFrame(data, index=index)


def write(content: bytes) -> Path:
    with tempfile.NamedTemporaryFile(suffix=".csv", delete=False) as handle:
        handle.write(content)
    return Path(handle.name)


@PROPERTY
@given(frames(), st.booleans())
def test_any_accepted_frame_round_trips_to_the_same_numbers(frame, shuffled):
    written = frame.sample(frac=1, random_state=0) if shuffled else frame
    path = write(written.to_csv().encode())
    try:
        table = load_csv(path)
    finally:
        path.unlink()
    assert table.columns == list(frame.columns)
    assert list(table.values.index) == list(frame.index)
    np.testing.assert_array_equal(table.values.to_numpy(), frame.to_numpy())


@PROPERTY
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(max_size=300).map(str.encode),
        st.lists(
            st.lists(
                st.sampled_from(["date", "2020-01-01", "x", "1", "", "nan", "inf", ";", "2020-13-45", "1e400"]),
                min_size=1,
                max_size=4,
            ),
            min_size=1,
            max_size=6,
        ).map(lambda rows: "\n".join(",".join(row) for row in rows).encode()),
    )
)
def test_anything_else_is_a_clean_error(content):
    path = write(content)
    try:
        table = load_csv(path)
    except BadInput as error:
        assert str(path) in str(error) and "\n" not in str(error)
    else:
        assert (
            table.values.shape[1] >= 1
            and np.isfinite(table.values.to_numpy()[~np.isnan(table.values.to_numpy())]).all()
        )
    finally:
        path.unlink()


@PROPERTY
@given(st.sampled_from(["standard", "minmax", "robust", "none"]), st.lists(finite, min_size=1, max_size=50))
def test_inverse_of_forward_is_the_identity(kind, values):
    values = np.array(values)
    scaler = fit_scaler(kind, values)
    restored = scaler.inverse(scaler.transform(values))
    np.testing.assert_allclose(restored, values, rtol=1e-9, atol=1e-9 * max(1.0, float(np.max(np.abs(values)))))
