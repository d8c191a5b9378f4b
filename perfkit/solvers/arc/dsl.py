"""The ARC DSL: deterministic ``grid -> grid`` primitives registered under short names.

Every primitive takes a 2-D uint8 grid (cells 0..9, background 0) and returns a new valid
grid of 1..30 x 1..30 cells, or raises ``ValueError`` when it cannot handle its input (wrong
shape for a halving, result too large, nothing to crop, ...). Some primitives also read a
:class:`TaskContext` holding facts learned from the task's demo pairs (a colour map, a paint
colour); they are marked ``uses_ctx`` and are called as ``prim(grid, ctx)``.

``PRIMITIVES`` keeps registration order, and that order is the enumeration order of
programs, so adding or moving a primitive here changes every candidate list: append new ones
at the end of their group deliberately.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

#: Largest side of an ARC grid.
MAX_SIDE = 30
#: The background colour.
BG = 0


# --------------------------------------------------------------------------------------------
# Task context: what the demos teach the context-dependent primitives
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskContext:
    """Facts learned from a task's demo pairs.

    ``colour_map[c]`` is the colour input cells of colour ``c`` most often become in the demo
    pairs whose input and output shapes match (identity for colours never seen); ``paint`` is
    the colour the demos most often paint (changed cells), else the most common non-background
    output colour, else 4.
    """

    colour_map: tuple[int, ...] = tuple(range(10))
    paint: int = 4
    _lookup: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len(self.colour_map) != 10 or any(not 0 <= c <= 9 for c in self.colour_map):
            raise ValueError(f"colour_map must map the 10 colours to 0..9: {self.colour_map}")
        if not 0 <= self.paint <= 9:
            raise ValueError(f"paint must be a colour 0..9: {self.paint}")
        # A lookup table makes recolouring one fancy-indexing call instead of a Python loop.
        object.__setattr__(self, "_lookup", np.asarray(self.colour_map, dtype=np.uint8))

    @property
    def lookup(self) -> np.ndarray:
        """``colour_map`` as a uint8 array usable as ``lookup[grid]``."""
        return self._lookup

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[np.ndarray, Optional[np.ndarray]]]) -> "TaskContext":
        """Learn a context from (input, output) demo pairs; pairs without output are skipped."""
        pair_counts = np.zeros(100, dtype=np.int64)  # index a*10+b counts input a -> output b
        painted = np.zeros(10, dtype=np.int64)
        out_colours = np.zeros(10, dtype=np.int64)
        for inp, out in pairs:
            if out is None:
                continue
            a = np.asarray(inp, dtype=np.int64)
            b = np.asarray(out, dtype=np.int64)
            out_colours += np.bincount(b.ravel(), minlength=10)[:10]
            if a.shape != b.shape:
                continue  # cell pairs only mean something when the grids line up
            pair_counts += np.bincount((a * 10 + b).ravel(), minlength=100)
            changed = a != b
            if changed.any():
                painted += np.bincount(b[changed], minlength=10)
        table = pair_counts.reshape(10, 10)
        # argmax picks the smallest colour on ties, which keeps the map deterministic.
        colour_map = tuple(int(np.argmax(row)) if row.any() else c for c, row in enumerate(table))
        if painted.any():
            paint = int(np.argmax(painted))
        elif out_colours[1:].any():
            paint = int(np.argmax(out_colours[1:])) + 1
        else:
            paint = 4
        return cls(colour_map=colour_map, paint=paint)


#: The context used when a context-dependent primitive is called without one.
DEFAULT_CONTEXT = TaskContext()


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Primitive:
    """A named DSL operation. Call it as ``prim(grid, ctx)``; the result is validated."""

    name: str
    fn: Callable[..., np.ndarray]
    category: str
    uses_ctx: bool = False

    @property
    def doc(self) -> str:
        """First line of the implementing function's docstring."""
        return (self.fn.__doc__ or "").strip().splitlines()[0]

    def __call__(self, grid: np.ndarray, ctx: Optional[TaskContext] = None) -> np.ndarray:
        """Apply the primitive and check the result is a valid ARC grid."""
        out = self.fn(grid, DEFAULT_CONTEXT if ctx is None else ctx) if self.uses_ctx else self.fn(grid)
        return checked(out)


#: Every primitive by name, in registration (= enumeration) order.
PRIMITIVES: dict[str, Primitive] = {}


def primitive(name: str, category: str, uses_ctx: bool = False) -> Callable:
    """Decorator registering ``fn`` in ``PRIMITIVES`` under ``name``."""
    if ">" in name or not name:
        raise ValueError(f"bad primitive name {name!r}")  # '>' separates names in program ids

    def register(fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        if name in PRIMITIVES:
            raise ValueError(f"primitive {name!r} registered twice")
        PRIMITIVES[name] = Primitive(name, fn, category, uses_ctx)
        return fn

    return register


def checked(out: np.ndarray) -> np.ndarray:
    """``out`` as a contiguous uint8 grid; ValueError unless it is 2-D with sides 1..30."""
    if out.ndim != 2:
        raise ValueError(f"result is not 2-D (shape {out.shape})")
    h, w = out.shape
    if not (1 <= h <= MAX_SIDE and 1 <= w <= MAX_SIDE):
        raise ValueError(f"result shape {out.shape} outside 1..{MAX_SIDE}")
    return np.ascontiguousarray(out, dtype=np.uint8)


# --------------------------------------------------------------------------------------------
# Helpers: colour counts and connected components
# --------------------------------------------------------------------------------------------


def colour_counts(grid: np.ndarray) -> np.ndarray:
    """Cell count of each colour 0..9."""
    return np.bincount(grid.ravel(), minlength=10)[:10]


def most_common_fg(grid: np.ndarray) -> int:
    """The most common non-background colour (smallest on ties); ValueError if none."""
    counts = colour_counts(grid)[1:]
    if not counts.any():
        raise ValueError("grid has no foreground colour")
    return int(np.argmax(counts)) + 1


def least_common_fg(grid: np.ndarray) -> int:
    """The least common non-background colour present (smallest on ties); ValueError if none."""
    counts = colour_counts(grid)[1:]
    present = np.flatnonzero(counts)
    if present.size == 0:
        raise ValueError("grid has no foreground colour")
    return int(present[np.argmin(counts[present])]) + 1


@dataclass(frozen=True)
class Component:
    """A connected set of same-coloured cells, as sorted flat indices into a grid ``width`` wide."""

    colour: int
    cells: tuple[int, ...]
    width: int

    @property
    def size(self) -> int:
        """Number of cells."""
        return len(self.cells)

    @property
    def rows(self) -> tuple[int, ...]:
        """Row of each cell, in scan order."""
        return tuple(p // self.width for p in self.cells)

    @property
    def cols(self) -> tuple[int, ...]:
        """Column of each cell, in scan order."""
        return tuple(p % self.width for p in self.cells)

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """(top, left, bottom, right), bottom/right exclusive."""
        cols = self.cols
        # cells are sorted, so the first and last give the top and bottom rows directly.
        return self.cells[0] // self.width, min(cols), self.cells[-1] // self.width + 1, max(cols) + 1

    def touches_border(self, shape: tuple[int, int]) -> bool:
        """True when a cell lies on the grid's edge."""
        top, left, bottom, right = self.bbox
        return top == 0 or left == 0 or bottom == shape[0] or right == shape[1]


_OFFSETS = {
    4: ((-1, 0), (0, -1), (0, 1), (1, 0)),
    8: ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)),
}


@functools.lru_cache(maxsize=256)
def _neighbours(h: int, w: int, connectivity: int) -> tuple[tuple[int, ...], ...]:
    """For each flat cell index, the flat indices of its in-grid neighbours.

    Cached per shape: ARC tasks reuse a handful of shapes, and precomputing the bounds checks
    takes them out of the flood fill's inner loop (several times faster on 30x30 grids).
    """
    offsets = _OFFSETS[connectivity]
    table = []
    for r in range(h):
        for c in range(w):
            table.append(
                tuple((r + dr) * w + c + dc for dr, dc in offsets if 0 <= r + dr < h and 0 <= c + dc < w)
            )
    return tuple(table)


def components(grid: np.ndarray, connectivity: int = 4, background: bool = False) -> list[Component]:
    """Connected components of same-coloured cells, in row-major order of their first cell.

    With ``background=False`` only non-background cells are labelled (the objects); with
    ``background=True`` only background cells are (the regions between objects). Written as
    an iterative flood fill over a flat Python list because scipy is not available and, on
    at most 900 cells, list indexing beats per-cell numpy access by an order of magnitude.
    """
    if connectivity not in _OFFSETS:
        raise ValueError(f"connectivity must be 4 or 8, not {connectivity}")
    h, w = grid.shape
    nbrs = _neighbours(h, w, connectivity)
    flat = grid.ravel().tolist()
    seen = [False] * (h * w)
    result: list[Component] = []
    for start, colour in enumerate(flat):
        if seen[start] or ((colour == BG) != background):
            continue
        seen[start] = True
        stack = [start]
        cells = []
        while stack:
            p = stack.pop()
            cells.append(p)
            for n in nbrs[p]:
                if not seen[n] and flat[n] == colour:
                    seen[n] = True
                    stack.append(n)
        cells.sort()  # scan order, independent of the stack's visiting order
        result.append(Component(colour, tuple(cells), w))
    return result


def _largest(objs: Sequence[Component]) -> Component:
    """The largest object, the first in scan order on ties; ValueError if there is none."""
    if not objs:
        raise ValueError("grid has no objects")
    return max(objs, key=lambda o: o.size)  # max keeps the first of equal keys


def _smallest(objs: Sequence[Component]) -> Component:
    """The smallest object, the first in scan order on ties; ValueError if there is none."""
    if not objs:
        raise ValueError("grid has no objects")
    return min(objs, key=lambda o: o.size)


def _keep(grid: np.ndarray, objs: Iterable[Component]) -> np.ndarray:
    """A background grid of ``grid``'s shape holding only ``objs``."""
    out = np.zeros_like(grid)
    flat = out.reshape(-1)  # a view: assigning flat indices writes into ``out``
    for o in objs:
        flat[list(o.cells)] = o.colour
    return out


def _crop(grid: np.ndarray, bbox: tuple[int, int, int, int]) -> np.ndarray:
    top, left, bottom, right = bbox
    return grid[top:bottom, left:right]


# --------------------------------------------------------------------------------------------
# Geometry
# --------------------------------------------------------------------------------------------


@primitive("rot90", "geometry")
def rot90(g: np.ndarray) -> np.ndarray:
    """Rotate a quarter turn counter-clockwise."""
    return np.rot90(g, 1)


@primitive("rot180", "geometry")
def rot180(g: np.ndarray) -> np.ndarray:
    """Rotate a half turn."""
    return np.rot90(g, 2)


@primitive("rot270", "geometry")
def rot270(g: np.ndarray) -> np.ndarray:
    """Rotate a quarter turn clockwise."""
    return np.rot90(g, 3)


@primitive("flip_h", "geometry")
def flip_h(g: np.ndarray) -> np.ndarray:
    """Mirror left-right."""
    return g[:, ::-1]


@primitive("flip_v", "geometry")
def flip_v(g: np.ndarray) -> np.ndarray:
    """Mirror top-bottom."""
    return g[::-1, :]


@primitive("transpose", "geometry")
def transpose(g: np.ndarray) -> np.ndarray:
    """Mirror about the main diagonal."""
    return g.T


@primitive("antitranspose", "geometry")
def antitranspose(g: np.ndarray) -> np.ndarray:
    """Mirror about the anti-diagonal."""
    return g[::-1, ::-1].T


# --------------------------------------------------------------------------------------------
# Scaling and tiling
# --------------------------------------------------------------------------------------------


def _upscale(g: np.ndarray, k: int) -> np.ndarray:
    if g.shape[0] * k > MAX_SIDE or g.shape[1] * k > MAX_SIDE:
        raise ValueError(f"upscale x{k} of {g.shape} exceeds {MAX_SIDE}")
    return np.repeat(np.repeat(g, k, axis=0), k, axis=1)


def _downscale(g: np.ndarray, k: int) -> np.ndarray:
    if g.shape[0] % k or g.shape[1] % k:
        raise ValueError(f"downscale x{k} needs sides divisible by {k}, got {g.shape}")
    return g[::k, ::k]  # top-left cell of each block; exact inverse of upscale


def _fits(g: np.ndarray, ny: int, nx: int) -> None:
    # Checked before building the result so an oversized tiling costs nothing.
    if g.shape[0] * ny > MAX_SIDE or g.shape[1] * nx > MAX_SIDE:
        raise ValueError(f"tiling {g.shape} {ny}x{nx} exceeds {MAX_SIDE}")


def _tile(g: np.ndarray, ny: int, nx: int) -> np.ndarray:
    _fits(g, ny, nx)
    return np.tile(g, (ny, nx))


@primitive("up2", "scale")
def up2(g: np.ndarray) -> np.ndarray:
    """Scale up: each cell becomes a 2x2 block."""
    return _upscale(g, 2)


@primitive("up3", "scale")
def up3(g: np.ndarray) -> np.ndarray:
    """Scale up: each cell becomes a 3x3 block."""
    return _upscale(g, 3)


@primitive("down2", "scale")
def down2(g: np.ndarray) -> np.ndarray:
    """Scale down by 2 (keep the top-left cell of each 2x2 block)."""
    return _downscale(g, 2)


@primitive("down3", "scale")
def down3(g: np.ndarray) -> np.ndarray:
    """Scale down by 3 (keep the top-left cell of each 3x3 block)."""
    return _downscale(g, 3)


@primitive("tile2", "scale")
def tile2(g: np.ndarray) -> np.ndarray:
    """Tile the grid 2x2."""
    return _tile(g, 2, 2)


@primitive("tile3", "scale")
def tile3(g: np.ndarray) -> np.ndarray:
    """Tile the grid 3x3."""
    return _tile(g, 3, 3)


@primitive("tile_h", "scale")
def tile_h(g: np.ndarray) -> np.ndarray:
    """Two copies side by side."""
    return _tile(g, 1, 2)


@primitive("tile_v", "scale")
def tile_v(g: np.ndarray) -> np.ndarray:
    """Two copies one above the other."""
    return _tile(g, 2, 1)


@primitive("mirror_h", "scale")
def mirror_h(g: np.ndarray) -> np.ndarray:
    """The grid followed by its left-right mirror."""
    _fits(g, 1, 2)
    return np.hstack([g, g[:, ::-1]])


@primitive("mirror_v", "scale")
def mirror_v(g: np.ndarray) -> np.ndarray:
    """The grid above its top-bottom mirror."""
    _fits(g, 2, 1)
    return np.vstack([g, g[::-1, :]])


@primitive("mirror_tile", "scale")
def mirror_tile(g: np.ndarray) -> np.ndarray:
    """2x2 tiling with mirrored copies: [[g, flip_h g], [flip_v g, rot180 g]]."""
    _fits(g, 2, 2)
    top = np.hstack([g, g[:, ::-1]])
    return np.vstack([top, top[::-1, :]])


# --------------------------------------------------------------------------------------------
# Cropping
# --------------------------------------------------------------------------------------------


@primitive("crop_content", "crop")
def crop_content(g: np.ndarray) -> np.ndarray:
    """Crop to the bounding box of all non-background cells."""
    rows = np.flatnonzero(g.any(axis=1))
    if rows.size == 0:
        raise ValueError("nothing to crop: grid is all background")
    cols = np.flatnonzero(g.any(axis=0))
    return g[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


@primitive("crop_largest", "crop")
def crop_largest(g: np.ndarray) -> np.ndarray:
    """Crop to the bounding box of the largest object (8-connected, one colour)."""
    return _crop(g, _largest(components(g, 8)).bbox)


@primitive("crop_smallest", "crop")
def crop_smallest(g: np.ndarray) -> np.ndarray:
    """Crop to the bounding box of the smallest object (8-connected, one colour)."""
    return _crop(g, _smallest(components(g, 8)).bbox)


# --------------------------------------------------------------------------------------------
# Colour
# --------------------------------------------------------------------------------------------


@primitive("recolor", "colour", uses_ctx=True)
def recolor(g: np.ndarray, ctx: TaskContext) -> np.ndarray:
    """Recolour every cell through the colour map learned from the demos."""
    return ctx.lookup[g]


@primitive("fill_common", "colour")
def fill_common(g: np.ndarray) -> np.ndarray:
    """Fill the whole grid with its most common non-background colour."""
    return np.full_like(g, most_common_fg(g))


@primitive("keep_least", "colour")
def keep_least(g: np.ndarray) -> np.ndarray:
    """Keep only the cells of the least common non-background colour."""
    c = least_common_fg(g)
    return np.where(g == c, g, 0).astype(np.uint8)


@primitive("keep_most", "colour")
def keep_most(g: np.ndarray) -> np.ndarray:
    """Keep only the cells of the most common non-background colour."""
    c = most_common_fg(g)
    return np.where(g == c, g, 0).astype(np.uint8)


@primitive("swap_top2", "colour")
def swap_top2(g: np.ndarray) -> np.ndarray:
    """Swap the two most common non-background colours."""
    counts = colour_counts(g)[1:]
    if np.count_nonzero(counts) < 2:
        raise ValueError("swap needs two foreground colours")
    # Stable sort on -count: ties broken by the smaller colour, as everywhere else.
    a, b = (int(c) + 1 for c in np.argsort(-counts, kind="stable")[:2])
    out = g.copy()
    out[g == a] = b
    out[g == b] = a
    return out


@primitive("invert", "colour")
def invert(g: np.ndarray) -> np.ndarray:
    """Background becomes the most common foreground colour and every foreground cell background."""
    c = most_common_fg(g)
    return np.where(g == BG, c, 0).astype(np.uint8)


@primitive("paint_all", "colour", uses_ctx=True)
def paint_all(g: np.ndarray, ctx: TaskContext) -> np.ndarray:
    """Paint every non-background cell with the learned paint colour."""
    return np.where(g != BG, ctx.paint, 0).astype(np.uint8)


# --------------------------------------------------------------------------------------------
# Objects
# --------------------------------------------------------------------------------------------


@primitive("largest4", "objects")
def largest4(g: np.ndarray) -> np.ndarray:
    """Keep only the largest 4-connected object."""
    return _keep(g, [_largest(components(g, 4))])


@primitive("largest8", "objects")
def largest8(g: np.ndarray) -> np.ndarray:
    """Keep only the largest 8-connected object."""
    return _keep(g, [_largest(components(g, 8))])


@primitive("drop_smallest", "objects")
def drop_smallest(g: np.ndarray) -> np.ndarray:
    """Remove every 8-connected object of the smallest size."""
    objs = components(g, 8)
    small = _smallest(objs).size
    return _keep(g, [o for o in objs if o.size != small])


@primitive("drop_singles", "objects")
def drop_singles(g: np.ndarray) -> np.ndarray:
    """Remove 8-connected objects of a single cell (noise)."""
    return _keep(g, [o for o in components(g, 8) if o.size > 1])


@primitive("count_objs", "objects")
def count_objs(g: np.ndarray) -> np.ndarray:
    """A 1xN grid of the most common foreground colour, N = number of 8-connected objects."""
    n = len(components(g, 8))
    if not 1 <= n <= MAX_SIDE:
        raise ValueError(f"cannot draw a count of {n}")
    return np.full((1, n), most_common_fg(g), dtype=np.uint8)


# --------------------------------------------------------------------------------------------
# Gravity
# --------------------------------------------------------------------------------------------


def _fall_down(g: np.ndarray) -> np.ndarray:
    # Stable sort of "is foreground" per column moves foreground to the bottom, keeping order.
    order = np.argsort(g != BG, axis=0, kind="stable")
    return np.take_along_axis(g, order, axis=0)


@primitive("fall_down", "gravity")
def fall_down(g: np.ndarray) -> np.ndarray:
    """Foreground cells fall to the bottom of their column, keeping their order."""
    return _fall_down(g)


@primitive("fall_up", "gravity")
def fall_up(g: np.ndarray) -> np.ndarray:
    """Foreground cells rise to the top of their column, keeping their order."""
    return _fall_down(g[::-1, :])[::-1, :]


@primitive("fall_left", "gravity")
def fall_left(g: np.ndarray) -> np.ndarray:
    """Foreground cells slide to the left of their row, keeping their order."""
    return _fall_down(g.T[::-1, :])[::-1, :].T


@primitive("fall_right", "gravity")
def fall_right(g: np.ndarray) -> np.ndarray:
    """Foreground cells slide to the right of their row, keeping their order."""
    return _fall_down(g.T).T


# --------------------------------------------------------------------------------------------
# Filling enclosed regions
# --------------------------------------------------------------------------------------------


def _fill_enclosed(g: np.ndarray, colour: int) -> np.ndarray:
    # A background region is enclosed when it cannot reach the edge moving 4-wise.
    out = g.copy()
    flat = out.reshape(-1)
    for region in components(g, 4, background=True):
        if not region.touches_border(g.shape):
            flat[list(region.cells)] = colour
    return out


@primitive("fill_holes", "fill")
def fill_holes(g: np.ndarray) -> np.ndarray:
    """Fill background regions enclosed by foreground with colour 4."""
    return _fill_enclosed(g, 4)


@primitive("fill_holes_ctx", "fill", uses_ctx=True)
def fill_holes_ctx(g: np.ndarray, ctx: TaskContext) -> np.ndarray:
    """Fill background regions enclosed by foreground with the learned paint colour."""
    return _fill_enclosed(g, ctx.paint)


# --------------------------------------------------------------------------------------------
# Symmetry completion
# --------------------------------------------------------------------------------------------


def _complete(g: np.ndarray, mirror: np.ndarray) -> np.ndarray:
    # Only background cells take the mirror's value, so existing colours always win.
    return np.where(g == BG, mirror, g).astype(np.uint8)


@primitive("sym_h", "symmetry")
def sym_h(g: np.ndarray) -> np.ndarray:
    """Make the grid left-right symmetric by copying foreground into mirrored background cells."""
    return _complete(g, g[:, ::-1])


@primitive("sym_v", "symmetry")
def sym_v(g: np.ndarray) -> np.ndarray:
    """Make the grid top-bottom symmetric by copying foreground into mirrored background cells."""
    return _complete(g, g[::-1, :])


@primitive("sym_4", "symmetry")
def sym_4(g: np.ndarray) -> np.ndarray:
    """Complete both left-right and top-bottom symmetry (left-right first)."""
    h = _complete(g, g[:, ::-1])
    return _complete(h, h[::-1, :])


# --------------------------------------------------------------------------------------------
# Outlines
# --------------------------------------------------------------------------------------------


@primitive("outline", "outline")
def outline(g: np.ndarray) -> np.ndarray:
    """Keep object borders: clear foreground cells whose four neighbours all share their colour."""
    p = np.pad(g.astype(np.int16), 1, constant_values=-1)  # -1: the outside is never "same colour"
    c = p[1:-1, 1:-1]
    interior = (c != BG) & (p[:-2, 1:-1] == c) & (p[2:, 1:-1] == c) & (p[1:-1, :-2] == c) & (p[1:-1, 2:] == c)
    out = g.copy()
    out[interior] = BG
    return out


@primitive("halo", "outline", uses_ctx=True)
def halo(g: np.ndarray, ctx: TaskContext) -> np.ndarray:
    """Draw an outline: background cells 8-adjacent to foreground get the learned paint colour."""
    h, w = g.shape
    fg = np.pad(g != BG, 1)
    near = np.zeros((h, w), dtype=bool)
    for dr in range(3):
        for dc in range(3):
            near |= fg[dr : dr + h, dc : dc + w]
    out = g.copy()
    out[near & (g == BG)] = ctx.paint
    return out


# --------------------------------------------------------------------------------------------
# Halves (an odd middle row/column is treated as a separator and dropped)
# --------------------------------------------------------------------------------------------


def _need(n: int, what: str) -> None:
    if n < 2:
        raise ValueError(f"cannot halve a grid with one {what}")


@primitive("left", "halves")
def left(g: np.ndarray) -> np.ndarray:
    """The left half (without an odd middle column)."""
    _need(g.shape[1], "column")
    return g[:, : g.shape[1] // 2]


@primitive("right", "halves")
def right(g: np.ndarray) -> np.ndarray:
    """The right half (without an odd middle column)."""
    _need(g.shape[1], "column")
    return g[:, (g.shape[1] + 1) // 2 :]


@primitive("top", "halves")
def top(g: np.ndarray) -> np.ndarray:
    """The top half (without an odd middle row)."""
    _need(g.shape[0], "row")
    return g[: g.shape[0] // 2, :]


@primitive("bottom", "halves")
def bottom(g: np.ndarray) -> np.ndarray:
    """The bottom half (without an odd middle row)."""
    _need(g.shape[0], "row")
    return g[(g.shape[0] + 1) // 2 :, :]


# --------------------------------------------------------------------------------------------
# Deduplication
# --------------------------------------------------------------------------------------------


def _dedup_rows(g: np.ndarray) -> np.ndarray:
    keep = np.ones(g.shape[0], dtype=bool)
    keep[1:] = (g[1:] != g[:-1]).any(axis=1)
    return g[keep]


@primitive("dedup_rows", "dedup")
def dedup_rows(g: np.ndarray) -> np.ndarray:
    """Collapse runs of identical consecutive rows into one row."""
    return _dedup_rows(g)


@primitive("dedup_cols", "dedup")
def dedup_cols(g: np.ndarray) -> np.ndarray:
    """Collapse runs of identical consecutive columns into one column."""
    return _dedup_rows(g.T).T
