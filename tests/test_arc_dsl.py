"""Tests of perfkit.solvers.arc.dsl: every primitive on a hand-made grid, with literal results."""

from __future__ import annotations

import numpy as np
import pytest

from perfkit.solvers.arc.dsl import PRIMITIVES, TaskContext, components


def g(rows) -> np.ndarray:
    return np.array(rows, dtype=np.uint8)


#: A small asymmetric grid for the geometric primitives.
GEO = [[1, 2, 0, 0],
       [0, 3, 0, 0],
       [0, 0, 0, 4]]
SMALL = [[1, 2],
         [3, 0]]
CROP = [[0, 0, 0, 0, 0],
        [0, 5, 5, 0, 0],
        [0, 5, 0, 0, 0],
        [0, 0, 0, 0, 7]]
COLOURS = [[1, 1, 2],
           [1, 3, 0],
           [2, 0, 0]]
# 4-connected the 2s are four single cells; 8-connected they are one diagonal object of 4.
OBJECTS = [[1, 1, 0, 0, 2],
           [1, 0, 0, 2, 0],
           [0, 0, 2, 0, 0],
           [3, 2, 0, 0, 4],
           [3, 0, 0, 4, 4]]
GRAVITY = [[1, 0, 2],
           [0, 3, 0],
           [4, 0, 0]]
RING = [[0, 1, 1, 1, 0],
        [0, 1, 0, 1, 0],
        [0, 1, 1, 1, 0],
        [0, 0, 0, 0, 0]]
SYM = [[1, 2, 0, 0],
       [0, 0, 0, 0],
       [3, 0, 0, 0]]
HALVES = [[1, 2, 5, 3, 4],
          [6, 7, 5, 8, 9],
          [1, 1, 5, 2, 2]]
DUPS = [[1, 1, 2],
        [1, 1, 2],
        [3, 3, 4],
        [1, 1, 2]]

#: Swaps colours 1 and 2 and paints with 6.
CTX = TaskContext(colour_map=(0, 2, 1, 3, 4, 5, 6, 7, 8, 9), paint=6)

# (primitive, input, expected output); every registered primitive must appear here.
CASES = [
    ("rot90", GEO, [[0, 0, 4], [0, 0, 0], [2, 3, 0], [1, 0, 0]]),
    ("rot180", GEO, [[4, 0, 0, 0], [0, 0, 3, 0], [0, 0, 2, 1]]),
    ("rot270", GEO, [[0, 0, 1], [0, 3, 2], [0, 0, 0], [4, 0, 0]]),
    ("flip_h", GEO, [[0, 0, 2, 1], [0, 0, 3, 0], [4, 0, 0, 0]]),
    ("flip_v", GEO, [[0, 0, 0, 4], [0, 3, 0, 0], [1, 2, 0, 0]]),
    ("transpose", GEO, [[1, 0, 0], [2, 3, 0], [0, 0, 0], [0, 0, 4]]),
    ("antitranspose", GEO, [[4, 0, 0], [0, 0, 0], [0, 3, 2], [0, 0, 1]]),
    ("up2", SMALL, [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 0, 0], [3, 3, 0, 0]]),
    ("up3", SMALL, [[1, 1, 1, 2, 2, 2],
                    [1, 1, 1, 2, 2, 2],
                    [1, 1, 1, 2, 2, 2],
                    [3, 3, 3, 0, 0, 0],
                    [3, 3, 3, 0, 0, 0],
                    [3, 3, 3, 0, 0, 0]]),
    ("down2", [[1, 9, 2, 9], [9, 9, 9, 9], [3, 9, 0, 9], [9, 9, 9, 9]], SMALL),
    ("down3", [[1, 1, 1, 2, 2, 2], [1, 1, 1, 2, 2, 2], [1, 1, 1, 2, 2, 2]], [[1, 2]]),
    ("tile2", SMALL, [[1, 2, 1, 2], [3, 0, 3, 0], [1, 2, 1, 2], [3, 0, 3, 0]]),
    ("tile3", SMALL, [[1, 2, 1, 2, 1, 2],
                      [3, 0, 3, 0, 3, 0],
                      [1, 2, 1, 2, 1, 2],
                      [3, 0, 3, 0, 3, 0],
                      [1, 2, 1, 2, 1, 2],
                      [3, 0, 3, 0, 3, 0]]),
    ("tile_h", SMALL, [[1, 2, 1, 2], [3, 0, 3, 0]]),
    ("tile_v", SMALL, [[1, 2], [3, 0], [1, 2], [3, 0]]),
    ("mirror_h", SMALL, [[1, 2, 2, 1], [3, 0, 0, 3]]),
    ("mirror_v", SMALL, [[1, 2], [3, 0], [3, 0], [1, 2]]),
    ("mirror_tile", SMALL, [[1, 2, 2, 1], [3, 0, 0, 3], [3, 0, 0, 3], [1, 2, 2, 1]]),
    ("crop_content", CROP, [[5, 5, 0, 0], [5, 0, 0, 0], [0, 0, 0, 7]]),
    ("crop_largest", CROP, [[5, 5], [5, 0]]),
    ("crop_smallest", CROP, [[7]]),
    ("recolor", GEO, [[2, 1, 0, 0], [0, 3, 0, 0], [0, 0, 0, 4]]),
    ("fill_common", COLOURS, [[1, 1, 1], [1, 1, 1], [1, 1, 1]]),
    ("keep_least", COLOURS, [[0, 0, 0], [0, 3, 0], [0, 0, 0]]),
    ("keep_most", COLOURS, [[1, 1, 0], [1, 0, 0], [0, 0, 0]]),
    ("swap_top2", COLOURS, [[2, 2, 1], [2, 3, 0], [1, 0, 0]]),
    ("invert", COLOURS, [[0, 0, 0], [0, 0, 1], [0, 1, 1]]),
    ("paint_all", COLOURS, [[6, 6, 6], [6, 6, 0], [6, 0, 0]]),
    ("largest4", OBJECTS, [[1, 1, 0, 0, 0],
                           [1, 0, 0, 0, 0],
                           [0, 0, 0, 0, 0],
                           [0, 0, 0, 0, 0],
                           [0, 0, 0, 0, 0]]),
    ("largest8", OBJECTS, [[0, 0, 0, 0, 2],
                           [0, 0, 0, 2, 0],
                           [0, 0, 2, 0, 0],
                           [0, 2, 0, 0, 0],
                           [0, 0, 0, 0, 0]]),
    ("drop_smallest", OBJECTS, [[1, 1, 0, 0, 2],
                                [1, 0, 0, 2, 0],
                                [0, 0, 2, 0, 0],
                                [0, 2, 0, 0, 4],
                                [0, 0, 0, 4, 4]]),
    ("drop_singles", [[1, 1, 0, 5], [0, 0, 0, 0], [6, 0, 1, 0]], [[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]),
    ("count_objs", OBJECTS, [[2, 2, 2, 2]]),
    ("fall_down", GRAVITY, [[0, 0, 0], [1, 0, 0], [4, 3, 2]]),
    ("fall_up", GRAVITY, [[1, 3, 2], [4, 0, 0], [0, 0, 0]]),
    ("fall_left", GRAVITY, [[1, 2, 0], [3, 0, 0], [4, 0, 0]]),
    ("fall_right", GRAVITY, [[0, 1, 2], [0, 0, 3], [0, 0, 4]]),
    ("fill_holes", RING, [[0, 1, 1, 1, 0], [0, 1, 4, 1, 0], [0, 1, 1, 1, 0], [0, 0, 0, 0, 0]]),
    ("fill_holes_ctx", RING, [[0, 1, 1, 1, 0], [0, 1, 6, 1, 0], [0, 1, 1, 1, 0], [0, 0, 0, 0, 0]]),
    ("sym_h", SYM, [[1, 2, 2, 1], [0, 0, 0, 0], [3, 0, 0, 3]]),
    ("sym_v", SYM, [[1, 2, 0, 0], [0, 0, 0, 0], [3, 2, 0, 0]]),
    ("sym_4", SYM, [[1, 2, 2, 1], [0, 0, 0, 0], [3, 2, 2, 3]]),
    ("outline", [[2, 2, 2, 0], [2, 2, 2, 0], [2, 2, 2, 0], [0, 0, 0, 0]],
     [[2, 2, 2, 0], [2, 0, 2, 0], [2, 2, 2, 0], [0, 0, 0, 0]]),
    ("halo", [[0, 0, 0, 0], [0, 3, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]],
     [[6, 6, 6, 0], [6, 3, 6, 0], [6, 6, 6, 0], [0, 0, 0, 0]]),
    ("left", HALVES, [[1, 2], [6, 7], [1, 1]]),
    ("right", HALVES, [[3, 4], [8, 9], [2, 2]]),
    ("top", HALVES, [[1, 2, 5, 3, 4]]),
    ("bottom", HALVES, [[1, 1, 5, 2, 2]]),
    ("dedup_rows", DUPS, [[1, 1, 2], [3, 3, 4], [1, 1, 2]]),
    ("dedup_cols", DUPS, [[1, 2], [1, 2], [3, 4], [1, 2]]),
]


def test_every_primitive_has_a_case():
    names = [name for name, _, _ in CASES]
    assert len(names) == len(set(names)), "a primitive has two cases"
    assert set(names) == set(PRIMITIVES), "add a literal case for every new primitive"


def test_dsl_is_large_enough():
    assert len(PRIMITIVES) >= 40


@pytest.mark.parametrize("name,grid,expected", CASES, ids=[c[0] for c in CASES])
def test_primitive(name, grid, expected):
    inp = g(grid)
    before = inp.copy()
    out = PRIMITIVES[name](inp, CTX)
    assert out.dtype == np.uint8
    assert out.flags.c_contiguous
    np.testing.assert_array_equal(out, g(expected))
    np.testing.assert_array_equal(inp, before)  # primitives never modify their input
    np.testing.assert_array_equal(PRIMITIVES[name](inp, CTX), out)  # deterministic


@pytest.mark.parametrize(
    "name,grid",
    [
        ("up3", np.ones((11, 2))),  # 33 rows > 30
        ("up2", np.ones((2, 16))),
        ("tile3", np.ones((11, 11))),
        ("mirror_tile", np.ones((16, 2))),
        ("mirror_h", np.ones((2, 16))),
        ("down2", np.ones((3, 4))),
        ("down3", np.ones((3, 4))),
        ("crop_content", np.zeros((3, 3))),
        ("crop_largest", np.zeros((3, 3))),
        ("largest4", np.zeros((3, 3))),
        ("drop_smallest", np.zeros((3, 3))),
        ("count_objs", np.zeros((3, 3))),
        ("fill_common", np.zeros((3, 3))),
        ("keep_least", np.zeros((3, 3))),
        ("swap_top2", np.ones((3, 3))),
        ("left", np.ones((3, 1))),
        ("top", np.ones((1, 3))),
    ],
)
def test_primitive_rejects_input_it_cannot_handle(name, grid):
    with pytest.raises(ValueError):
        PRIMITIVES[name](np.asarray(grid, dtype=np.uint8), CTX)


def test_halves_of_even_grids_split_in_the_middle():
    grid = g([[1, 2, 3, 4], [5, 6, 7, 8]])
    np.testing.assert_array_equal(PRIMITIVES["left"](grid), g([[1, 2], [5, 6]]))
    np.testing.assert_array_equal(PRIMITIVES["right"](grid), g([[3, 4], [7, 8]]))
    np.testing.assert_array_equal(PRIMITIVES["top"](grid), g([[1, 2, 3, 4]]))
    np.testing.assert_array_equal(PRIMITIVES["bottom"](grid), g([[5, 6, 7, 8]]))


def test_connectivity_4_and_8_differ_on_a_diagonal():
    diagonal = g([[3, 0, 0], [0, 3, 0], [0, 0, 3]])
    four = components(diagonal, 4)
    eight = components(diagonal, 8)
    assert [c.size for c in four] == [1, 1, 1]
    assert [c.size for c in eight] == [3]
    assert eight[0].bbox == (0, 0, 3, 3)


def test_components_split_by_colour_and_label_background_separately():
    grid = g([[1, 1, 2], [0, 0, 2], [0, 1, 0]])
    objs = components(grid, 4)
    assert [(o.colour, o.size) for o in objs] == [(1, 2), (2, 2), (1, 1)]
    bg = components(grid, 4, background=True)
    assert [(o.colour, o.size, o.touches_border(grid.shape)) for o in bg] == [(0, 3, True), (0, 1, True)]
    with pytest.raises(ValueError):
        components(grid, 6)


def test_context_learns_colour_map_and_paint_from_demos():
    pairs = [
        (g([[1, 2], [0, 0]]), g([[2, 1], [0, 0]])),
        (g([[1, 0], [3, 1]]), g([[2, 0], [3, 2]])),
        (g([[1]]), g([[5, 5]])),  # different shape: no cell pairs, only output colours
        (g([[7]]), None),  # unknown output: ignored
    ]
    ctx = TaskContext.from_pairs(pairs)
    assert ctx.colour_map == (0, 2, 1, 3, 4, 5, 6, 7, 8, 9)
    assert ctx.paint == 2  # 1->2 three times, 2->1 once
    np.testing.assert_array_equal(PRIMITIVES["recolor"](g([[1, 2, 7]]), ctx), g([[2, 1, 7]]))


def test_context_paint_falls_back_to_output_colours_then_4():
    assert TaskContext.from_pairs([(g([[1]]), g([[3, 3], [5, 0]]))]).paint == 3
    assert TaskContext.from_pairs([(g([[1]]), g([[0, 0]]))]).paint == 4
    with pytest.raises(ValueError):
        TaskContext(colour_map=(0, 1), paint=1)


def test_every_primitive_is_documented():
    for prim in PRIMITIVES.values():
        assert prim.doc, prim.name
        assert ">" not in prim.name
