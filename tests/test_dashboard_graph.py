"""The callback graph as Dash's renderer walks it.

Several times a change the renderer walks every output downstream of each pending callback, so the
message lines (one per control, set from the error store in the browser) are not declared outputs;
the browser tests check that a bad value still shows its message and that it clears.
"""
import re

from dashboard import ids
from dashboard.app import build_app
from dashboard.callbacks import ERROR_IDS


def test_the_message_lines_are_no_callbacks_outputs_and_the_error_store_still_drives_them():
    app = build_app(prefill=False)
    outputs = {re.sub(r"@[0-9a-f]+$", "", part) for key in app.callback_map for part in key.strip(".").split("...")}
    assert len(ERROR_IDS) > 30 and f"{ids.RATE}.value" in outputs     # the premise: the keys were read
    assert [e for e in ERROR_IDS if f"{e}.children" in outputs] == []
    driven = [v for v in app.callback_map.values()
              if [i["id"] for i in v["inputs"]] == [ids.ERRORS] and v.get("no_output")]
    assert len(driven) == 1
