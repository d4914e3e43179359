from tests.points.conftest import other_pos, other_shop, pos, shop  # noqa: F401
