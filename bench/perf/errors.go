package perf

import (
	"fmt"
	"strings"
)

// FieldError is a Config field whose value Run cannot use. Its message names
// the field as Config.<Field>; a program that sets the fields from its own
// options (the agiqa CLI from its flags) finds the field with errors.As and
// names its option instead, with Rename.
type FieldError struct {
	// Field is the Config field's Go name ("Batches", "Warmup").
	Field string
	// Value is the offending value as shown in the message ("16",
	// `"bursty"`); "" when the field is empty or missing.
	Value string
	// Reason says what is wrong with it.
	Reason string
	// Err is the cause, when one was returned by something else.
	Err error
}

func (e *FieldError) Error() string { return e.Rename("Config." + e.Field) }

func (e *FieldError) Unwrap() error { return e.Err }

// Rename is the message with name in place of Config.<Field>.
func (e *FieldError) Rename(name string) string {
	var b strings.Builder
	b.WriteString(name)
	if e.Value != "" {
		b.WriteString(" " + e.Value)
	}
	b.WriteString(": " + e.Reason)
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

// fieldErr builds a FieldError; value is formatted with %v ("" for none).
func fieldErr(field string, value any, format string, args ...any) *FieldError {
	v := ""
	if value != nil {
		v = fmt.Sprint(value)
	}
	return &FieldError{Field: field, Value: v, Reason: fmt.Sprintf(format, args...)}
}

// quoted formats a string-typed option value as the messages show it.
func quoted[T ~string](v T) string { return fmt.Sprintf("%q", string(v)) }
