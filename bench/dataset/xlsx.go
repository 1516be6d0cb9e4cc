package dataset

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// readXLSX reads the first sheet of a workbook: a regular file within lim's cap whose unpacked
// parts also fit in the cap. excelize's row iterator stops quietly at the first XML error, so a
// sheet cut short would load the rows before the cut; every worksheet and the shared strings are
// therefore parsed to their end first, and a damaged one is an error.
func readXLSX(file string, lim Limits) (sheet string, rows [][]string, err error) {
	data, err := readLabelFile(file, lim)
	if err != nil {
		return "", nil, err
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		// A renamed CSV or a truncated download: say what was expected.
		return "", nil, fmt.Errorf("labels %s: not an Excel .xlsx workbook (%w)", file, err)
	}
	if err := checkXLSXParts(file, zr, lim.maxLabelBytes()); err != nil {
		return "", nil, err
	}
	cap := lim.maxLabelBytes()
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{UnzipSizeLimit: cap, UnzipXMLSizeLimit: cap})
	if err != nil {
		return "", nil, fmt.Errorf("labels %s: %w", file, err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return "", nil, fmt.Errorf("%s: workbook has no sheets", file)
	}
	rows, err = f.GetRows(sheets[0], excelize.Options{RawCellValue: true})
	if err != nil {
		return "", nil, fmt.Errorf("%s: sheet %q: %w", file, sheets[0], err)
	}
	for i, row := range rows {
		for _, c := range row {
			if strings.IndexByte(c, 0) >= 0 || !utf8.ValidString(c) {
				return "", nil, fmt.Errorf("%s:%d: cell %q is not UTF-8 text without NUL", file, i+1, c)
			}
		}
	}
	return sheets[0], rows, nil
}

// checkXLSXParts parses every worksheet, the shared strings and the workbook part to the end,
// unpacking no more than limit bytes in all.
func checkXLSXParts(file string, zr *zip.Reader, limit int64) error {
	left := limit
	for _, m := range zr.File {
		name := m.Name
		if !(strings.HasPrefix(name, "xl/worksheets/") && strings.HasSuffix(name, ".xml")) &&
			name != "xl/sharedStrings.xml" && name != "xl/workbook.xml" {
			continue
		}
		rc, err := m.Open()
		if err != nil {
			return fmt.Errorf("labels %s: part %s: %w", file, name, err)
		}
		lr := &io.LimitedReader{R: rc, N: left + 1}
		err = wellFormed(lr)
		rc.Close()
		left = lr.N - 1
		if left < 0 {
			return fmt.Errorf("labels %s unpacks to more than the label-file cap of %d bytes (raise it with --max-label-bytes, Limits.MaxLabelBytes, if the file is genuine)", file, limit)
		}
		if err != nil {
			return fmt.Errorf("labels %s: sheet XML %s is damaged or cut short (%v): download the workbook again", file, name, err)
		}
	}
	return nil
}

// wellFormed reads XML tokens to the end: a missing closing tag is an unexpected EOF.
func wellFormed(r io.Reader) error {
	d := xml.NewDecoder(r)
	for {
		_, err := d.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
