"""Writes the bad-text label files and cases.json beside this script.

Run: python3 gen_badtext.py (any Python 3). Each file is a label file that must be refused because it
is not UTF-8 text or holds a NUL byte; cases.json gives the dataset layout, the 1-based line of the
first offending byte (1 + the number of b"\\n" before it) and a phrase the error must contain. The Go
reader (bench/dataset, TestLabelsMustBeUTF8WithoutNUL) and the training code's reader
(modelrepo/python/tests/test_data.py) are both checked against these cases.
"""

import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

CASES = [
    # (file, dataset, content, line, phrase)
    ("generic_nul.csv", "csv", b"image,prompt,mos\na.jpg,a cat,1\nb.jpg,a d\x00og,2\n", 3, "NUL byte"),
    ("generic_latin1.csv", "csv", b"image,prompt,mos\na.jpg,caf\xe9 au lait,1\n", 2, "not UTF-8"),
    ("generic_surrogate.csv", "csv", b"image,prompt,mos\na.jpg,ok,1\nb.jpg,\xed\xa0\x80,2\n", 3, "not UTF-8"),
    # The offending byte is on the second physical line of a quoted prompt: the line reported is the
    # byte's, not the record's.
    ("generic_multiline.csv", "csv", b"image,prompt,mos\na.jpg,\"two\nli\x00nes\",1\n", 3, "NUL byte"),
    ("generic_bom_nul.csv", "csv", b"\xef\xbb\xbfimage,prompt,mos\n\x00a.jpg,p,1\n", 2, "NUL byte"),
    ("agiqa3k_latin1.csv", "agiqa-3k",
     b"name,prompt,adj1,adj2,style,mos_quality,std_quality,mos_align,std_align\n"
     b"AttnGAN_normal_000.jpg,a cat,,,,1,0,2,0\n"
     b"AttnGAN_normal_001.jpg,na\xefve,,,,1,0,2,0\n", 3, "not UTF-8"),
]


def main():
    cases = []
    for name, dataset, content, line, says in CASES:
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(content)
        cases.append({"file": name, "dataset": dataset, "line": line, "says": says})
    with open(os.path.join(HERE, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
