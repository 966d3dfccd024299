"""stub"""
from tests.bench.common import Section


async def run(section: Section) -> None:
    pass
