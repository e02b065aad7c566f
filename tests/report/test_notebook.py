"""report_parts: a report's relative figure links resolve against the report's folder."""

from routerlab.report.notebook import report_parts


def test_relative_images_become_image_parts_in_order(tmp_path):
    (tmp_path / "a.png").write_bytes(b"png")
    (tmp_path / "b.png").write_bytes(b"png")
    text = "# T\n\nfirst\n![a](a.png)\nmiddle\n![b](b.png)\n"
    assert report_parts(text, tmp_path) == [
        ("markdown", "# T\n\nfirst\n"),
        ("image", tmp_path / "a.png"),
        ("markdown", "\nmiddle\n"),
        ("image", tmp_path / "b.png"),
    ]


def test_urls_absolute_and_missing_links_stay_in_the_markdown(tmp_path):
    text = "x ![u](https://e.org/u.png) ![m](missing.png) ![abs](/etc/x.png) y"
    assert report_parts(text, tmp_path) == [("markdown", text)]
