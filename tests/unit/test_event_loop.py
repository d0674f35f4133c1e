import asyncio
import sys

import pytest

from chatport.runtime import event_loop


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop is not installed on Windows")
def test_coroutines_run_on_uvloop_where_it_is_installed():
    assert event_loop.run(_loop_module()).startswith("uvloop")


def test_the_coroutine_s_result_comes_back():
    async def answer() -> int:
        await asyncio.sleep(0)
        return 42

    assert event_loop.run(answer()) == 42
