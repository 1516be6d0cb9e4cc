package modelrepo

// prototext reports syntax errors with a line and column, but a config that
// parses can still be wrong (a missing dims, a duplicate tensor name), and
// those checks run on the decoded message, which has no positions. This file
// is a small, lenient scanner of the protobuf text format that records where
// each field occurrence starts, so semantic errors can name a line too. It
// never decides whether text is valid: prototext does that first.

type textNode struct {
	name      string
	line, col int
	children  []*textNode // fields of a message value; nil for scalars
}

// field returns the i-th occurrence of a field (list elements count one each).
func (n *textNode) field(name string, i int) *textNode {
	if n == nil {
		return nil
	}
	for _, c := range n.children {
		if c.name == name {
			if i == 0 {
				return c
			}
			i--
		}
	}
	return nil
}

type textToken struct {
	text      string
	line, col int
	str       bool // a quoted string
}

type textScanner struct {
	src       []byte
	pos       int
	line, col int
	toks      []textToken
	i         int
	// unclosed records the innermost brace left open at EOF, which is where
	// prototext's position-less "unexpected EOF" really is.
	unclosed *textToken
}

func scanText(src []byte) *textScanner {
	s := &textScanner{src: src, line: 1, col: 1}
	for {
		t, ok := s.next()
		if !ok {
			break
		}
		s.toks = append(s.toks, t)
	}
	return s
}

func (s *textScanner) advance() {
	if s.src[s.pos] == '\n' {
		s.line++
		s.col = 1
	} else {
		s.col++
	}
	s.pos++
}

func (s *textScanner) next() (textToken, bool) {
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch {
		case c == '#':
			for s.pos < len(s.src) && s.src[s.pos] != '\n' {
				s.advance()
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			s.advance()
		case c == '"' || c == '\'':
			t := textToken{line: s.line, col: s.col, str: true}
			start := s.pos
			s.advance()
			for s.pos < len(s.src) && s.src[s.pos] != c && s.src[s.pos] != '\n' {
				if s.src[s.pos] == '\\' && s.pos+1 < len(s.src) {
					s.advance()
				}
				s.advance()
			}
			if s.pos < len(s.src) && s.src[s.pos] == c {
				s.advance()
			}
			t.text = string(s.src[start:s.pos])
			return t, true
		case isIdentByte(c):
			t := textToken{line: s.line, col: s.col}
			start := s.pos
			for s.pos < len(s.src) && isIdentByte(s.src[s.pos]) {
				s.advance()
			}
			t.text = string(s.src[start:s.pos])
			return t, true
		default:
			t := textToken{text: string(c), line: s.line, col: s.col}
			s.advance()
			return t, true
		}
	}
	return textToken{}, false
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '.' || c == '-' || c == '+' ||
		('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

func (s *textScanner) peek() *textToken {
	if s.i < len(s.toks) {
		return &s.toks[s.i]
	}
	return nil
}

func (s *textScanner) take() *textToken {
	t := s.peek()
	if t != nil {
		s.i++
	}
	return t
}

// parseTextPositions builds the field tree of a text-format message.
func parseTextPositions(src []byte) (*textNode, *textScanner) {
	s := scanText(src)
	root := &textNode{line: 1, col: 1}
	root.children, _ = s.fields("")
	return root, s
}

func closerOf(open string) string {
	if open == "<" {
		return ">"
	}
	return "}"
}

// fields reads field occurrences until the closer (or EOF for the top level);
// closed is false when EOF came first.
func (s *textScanner) fields(closer string) (out []*textNode, closed bool) {
	out = []*textNode{}
	for {
		t := s.peek()
		if t == nil {
			return out, false
		}
		if !t.str && t.text == closer {
			s.take()
			return out, true
		}
		if t.str || t.text == "," || t.text == ";" || !(isIdentByte(t.text[0]) || t.text == "[") {
			s.take()
			continue
		}
		name := s.take()
		nameText := name.text
		if nameText == "[" { // extension or Any type name: [a.b.c]
			nameText = ""
			for u := s.take(); u != nil && u.text != "]"; u = s.take() {
				nameText += u.text
			}
			nameText = "[" + nameText + "]"
		}
		if p := s.peek(); p != nil && !p.str && p.text == ":" {
			s.take()
		}
		out = append(out, s.value(nameText, name)...)
	}
}

// value reads one field value: a message, a list, or a scalar (adjacent
// strings concatenate). It returns one node per occurrence.
func (s *textScanner) value(name string, at *textToken) []*textNode {
	t := s.peek()
	if t == nil {
		return []*textNode{{name: name, line: at.line, col: at.col}}
	}
	switch {
	case !t.str && (t.text == "{" || t.text == "<"):
		open := *s.take()
		n := &textNode{name: name, line: at.line, col: at.col}
		var closed bool
		n.children, closed = s.fields(closerOf(open.text))
		if !closed && s.unclosed == nil { // the innermost open brace is recorded first
			s.unclosed = &open
		}
		return []*textNode{n}
	case !t.str && t.text == "[":
		s.take()
		var out []*textNode
		for {
			e := s.peek()
			if e == nil {
				return out
			}
			if !e.str && e.text == "]" {
				s.take()
				return out
			}
			if !e.str && e.text == "," {
				s.take()
				continue
			}
			if !e.str && (e.text == "{" || e.text == "<") {
				out = append(out, s.value(name, e)...)
				continue
			}
			s.take()
			out = append(out, &textNode{name: name, line: e.line, col: e.col})
		}
	default:
		s.take()
		for p := s.peek(); p != nil && p.str && t.str; p = s.peek() {
			s.take()
		}
		return []*textNode{{name: name, line: at.line, col: at.col}}
	}
}
