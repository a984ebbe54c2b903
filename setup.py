"""Packaging for morebench, driven by settings.ini (nbdev 2 layout).

Written without `pkg_resources` (gone from current setuptools): requirements are plain strings.
The benchmark notebooks live in `more_nb/` at the top of the checkout (where JupyterLab users open them and
`morebench paper` finds them in a clone or an editable install); `build_py` copies them and their manifest into
the package as `morebench/more_nb/`, so a wheel or sdist install finds them too (`morebench.bench.default_notebooks_dir`).
"""
from configparser import ConfigParser
from pathlib import Path

import setuptools
from setuptools.command.build_py import build_py

here = Path(__file__).parent
config = ConfigParser(delimiters=["="])
config.read(here / "settings.ini", encoding="utf-8")
cfg = config["DEFAULT"]

licenses = {"apache2": "Apache-2.0"}  # settings.ini license -> SPDX expression
statuses = ["1 - Planning", "2 - Pre-Alpha", "3 - Alpha", "4 - Beta", "5 - Production/Stable", "6 - Mature", "7 - Inactive"]
# Python versions the pinned torch 2.14.1 / torchvision 0.29.1 pair is tested on (the CI matrix); settings.ini's
# min_python is the floor.
py_versions = ["3.10", "3.11", "3.12", "3.13"]
BENCH_FILES = ("*.ipynb", "manifest.yaml")  # what of more_nb/ ships


class build_py_with_notebooks(build_py):
    """build_py that also copies more_nb/ (benchmark notebooks + manifest.yaml) into the package's more_nb/."""

    def run(self):
        super().run()
        src = here / "more_nb"
        if not src.is_dir():  # building from an sdist: MANIFEST.in put more_nb/ there too
            return
        dest = Path(self.build_lib) / cfg["lib_path"] / "more_nb"
        dest.mkdir(parents=True, exist_ok=True)
        for pattern in BENCH_FILES:
            for f in sorted(src.glob(pattern)):
                self.copy_file(str(f), str(dest / f.name))


def _reqs(key: str) -> list[str]:
    """Split a whitespace-separated requirement list, keeping specifiers such as `>=2.4,<3` intact."""
    return cfg.get(key, "").split()


lic = licenses[cfg["license"]]
min_python = cfg["min_python"]
readme = here / "README.md"

setuptools.setup(
    name=cfg["lib_name"],
    version=cfg["version"],
    license_expression=lic,
    classifiers=[
        "Development Status :: " + statuses[int(cfg["status"]) - 1],  # status = 3 -> "3 - Alpha"
        "Intended Audience :: " + cfg["audience"].title(),
        "Natural Language :: " + cfg["language"].title(),
    ]
    + ["Programming Language :: Python :: " + v for v in py_versions[py_versions.index(min_python):]],
    url=cfg["git_url"],
    packages=setuptools.find_namespace_packages(include=["morebench", "morebench.*"], exclude=["*__pycache__*"]),  # presets/ is data
    include_package_data=True,
    package_data={"morebench": ["presets/*.json", "resources/*", "resources/**/*"]},
    install_requires=_reqs("requirements"),
    extras_require={"dev": _reqs("dev_requirements"), "lab": _reqs("lab_requirements")},
    cmdclass={"build_py": build_py_with_notebooks},
    python_requires=">=" + min_python,
    long_description=readme.read_text(encoding="utf-8") if readme.exists() else cfg["description"],
    long_description_content_type="text/markdown",
    zip_safe=False,
    entry_points={
        "console_scripts": cfg.get("console_scripts", "").split(),
        "nbdev": [f"{cfg['lib_path']}={cfg['lib_path']}._modidx:d"],
    },
    author=cfg["author"],
    author_email=cfg["author_email"],
    description=cfg["description"],
    keywords=cfg["keywords"],
)
