"""The callback graph as Dash's renderer walks it.

Several times a change the renderer walks every output downstream of each pending callback, so the
message lines (one per control, set from the error store in the browser) are not declared outputs,
and the URL's round trip between the main view and the pages is not a cycle of declared outputs;
the browser tests check that a bad value still shows its message and that it clears, and that the
pages keep their settings in the URL.
"""
import re

from dashboard import ids
from dashboard.app import build_app
from dashboard.callbacks import ERROR_IDS
from dashboard.pages import expected, inpainting, phase


def _outputs_of(key: str) -> set:
    return {re.sub(r"@[0-9a-f]+$", "", part) for part in key.strip(".").split("...") if part}


def test_the_message_lines_are_no_callbacks_outputs_and_the_error_store_still_drives_them():
    app = build_app(prefill=False)
    outputs = set().union(*map(_outputs_of, app.callback_map))
    assert len(ERROR_IDS) > 30 and f"{ids.RATE}.value" in outputs     # the premise: the keys were read
    assert [e for e in ERROR_IDS if f"{e}.children" in outputs] == []
    driven = [v for v in app.callback_map.values()
              if [i["id"] for i in v["inputs"]] == [ids.ERRORS] and v.get("no_output")]
    assert len(driven) == 1


def test_the_callback_graph_has_no_cycle_through_other_callbacks():
    """For every pending callback the renderer walks all outputs downstream of it; on a cycle each
    callback reaches everything on and below it (the pages' URL syncs reached all 129 outputs).
    Reference: a depth-first search over "an output of A is an input of B" (A ≠ B) finds no cycle,
    and the main view's sync reaches none of the pages' controls."""
    app = build_app(prefill=False)
    keys = list(app.callback_map)
    outs = {k: _outputs_of(k) for k in keys}
    ins = {k: {f"{i['id']}.{i['property']}" for i in app.callback_map[k]["inputs"]} for k in keys}
    edges = {a: [b for b in keys if b != a and outs[a] & ins[b]] for a in keys}
    assert sum(map(len, edges.values())) > 40          # the premise: the graph was read

    colour = dict.fromkeys(keys, 0)                      # 0 new, 1 on the stack, 2 done

    def cycle_from(a, path):
        colour[a] = 1
        for b in edges[a]:
            if colour[b] == 1:
                return path + [a, b]
            if colour[b] == 0 and (found := cycle_from(b, path + [a])):
                return found
        colour[a] = 2
        return None

    cycles = [c for k in keys if colour[k] == 0 and (c := cycle_from(k, []))]
    assert cycles == [], [[k[:50] for k in c] for c in cycles]

    sync = next(k for k in keys if f"{ids.URL}.search" in outs[k] and f"{ids.CONFIG}.data" in outs[k])
    seen, front = set(), set(outs[sync])
    while front:
        seen |= front
        front = {o for k in keys if ins[k] & front for o in outs[k]} - seen
    pages = [f"{cid}.value" for m in (expected, inpainting, phase) for cid in m.CONTROLS.values()]
    assert f"{ids.RATE}.value" in seen and len(pages) > 15 and [o for o in pages if o in seen] == []
