//! A small scanner over RON text that finds where things are.
//!
//! `ron::Value` carries no spans, so this scanner recovers them: the top-level struct's
//! field names and the position of each value, the elements of a list and the entries
//! of a map. It understands just enough RON to do that: strings (with escapes), raw
//! strings `r#"..."#`, char literals, `//` and (nested) `/* */` comments and brackets.
//! The values themselves are then parsed by `ron` one at a time.
//!
//! Lines and columns are 1-based; columns count characters.

/// A position in a file: 1-based line and column (in characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pos {
    pub line: u32,
    pub column: u32,
}

impl Pos {
    pub const START: Pos = Pos { line: 1, column: 1 };
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Open(char),
    Close(char),
    Comma,
    Colon,
    Str,
    Word,
}

#[derive(Clone, Copy, Debug)]
struct Tok {
    kind: Kind,
    /// Byte range in the text.
    start: usize,
    end: usize,
    pos: Pos,
}

/// A value's tokens: `first..last` (exclusive) in the token list.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Item {
    first: usize,
    last: usize,
    /// Byte range of the value in the text.
    pub start: usize,
    pub end: usize,
    /// Where the value starts.
    pub pos: Pos,
}

/// A field of the top-level struct.
#[derive(Clone, Debug)]
pub(crate) struct Field {
    pub name: String,
    pub name_pos: Pos,
    pub value: Item,
}

/// The tokens of one file.
pub(crate) struct Scanned<'a> {
    text: &'a str,
    toks: Vec<Tok>,
}

type ScanError = (Pos, String);

struct Cursor<'a> {
    chars: Vec<(usize, char)>,
    text: &'a str,
    i: usize,
    pos: Pos,
}

impl<'a> Cursor<'a> {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.i + ahead).map(|(_, c)| *c)
    }
    fn offset(&self) -> usize {
        self.chars.get(self.i).map_or(self.text.len(), |(o, _)| *o)
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek(0)?;
        self.i += 1;
        if c == '\n' {
            self.pos.line += 1;
            self.pos.column = 1;
        } else {
            self.pos.column += 1;
        }
        Some(c)
    }
}

impl Cursor<'_> {
    /// Skips a (nested) block comment starting at the cursor.
    fn skip_block_comment(&mut self, pos: Pos) -> Result<(), ScanError> {
        let mut level = 0;
        loop {
            match (self.peek(0), self.peek(1)) {
                (Some('/'), Some('*')) => {
                    level += 1;
                    self.bump();
                    self.bump();
                }
                (Some('*'), Some('/')) => {
                    level -= 1;
                    self.bump();
                    self.bump();
                    if level == 0 {
                        return Ok(());
                    }
                }
                (Some(_), _) => {
                    self.bump();
                }
                (None, _) => return Err((pos, "unclosed block comment".into())),
            }
        }
    }

    /// Skips a string or character literal delimited by `quote`, with backslash escapes.
    fn skip_quoted(&mut self, quote: char, pos: Pos, unterminated: &str) -> Result<Kind, ScanError> {
        self.bump();
        loop {
            match self.bump() {
                Some('\\') => {
                    self.bump();
                }
                Some(c) if c == quote => return Ok(Kind::Str),
                Some(_) => {}
                None => return Err((pos, unterminated.into())),
            }
        }
    }

    /// Skips a raw string `r#"..."#` (any number of `#`).
    fn skip_raw_string(&mut self, pos: Pos) -> Result<Kind, ScanError> {
        self.bump();
        let mut hashes = 0;
        while self.peek(0) == Some('#') {
            hashes += 1;
            self.bump();
        }
        self.bump(); // the opening quote
        loop {
            match self.bump() {
                Some('"') if (0..hashes).all(|k| self.peek(k) == Some('#')) => {
                    for _ in 0..hashes {
                        self.bump();
                    }
                    return Ok(Kind::Str);
                }
                Some(_) => {}
                None => return Err((pos, "unterminated raw string".into())),
            }
        }
    }

    /// Skips a word (identifier, number); a comment right after a word ends it.
    fn skip_word(&mut self) -> Kind {
        while self.peek(0).is_some_and(is_word_char) {
            if self.peek(0) == Some('/') && matches!(self.peek(1), Some('/') | Some('*')) {
                break;
            }
            self.bump();
        }
        Kind::Word
    }
}

fn is_word_char(c: char) -> bool {
    !(c.is_whitespace() || "()[]{},:\"'".contains(c))
}

impl<'a> Scanned<'a> {
    /// Splits the text into tokens, skipping whitespace and comments.
    pub fn new(text: &'a str) -> Result<Self, ScanError> {
        let mut cur = Cursor { chars: text.char_indices().collect(), text, i: 0, pos: Pos::START };
        let mut toks = Vec::new();
        while let Some(c) = cur.peek(0) {
            let start = cur.offset();
            let pos = cur.pos;
            let kind = match c {
                c if c.is_whitespace() => {
                    cur.bump();
                    continue;
                }
                '/' if cur.peek(1) == Some('/') => {
                    while cur.peek(0).is_some_and(|c| c != '\n') {
                        cur.bump();
                    }
                    continue;
                }
                '/' if cur.peek(1) == Some('*') => {
                    cur.skip_block_comment(pos)?;
                    continue;
                }
                '(' | '[' | '{' => {
                    cur.bump();
                    Kind::Open(c)
                }
                ')' | ']' | '}' => {
                    cur.bump();
                    Kind::Close(c)
                }
                ',' => {
                    cur.bump();
                    Kind::Comma
                }
                ':' => {
                    cur.bump();
                    Kind::Colon
                }
                '"' => cur.skip_quoted('"', pos, "unterminated string")?,
                '\'' => cur.skip_quoted('\'', pos, "unterminated character literal")?,
                'r' if matches!(cur.peek(1), Some('"') | Some('#')) && is_raw_string(&cur) => {
                    cur.skip_raw_string(pos)?
                }
                _ => cur.skip_word(),
            };
            toks.push(Tok { kind, start, end: cur.offset(), pos });
        }
        Ok(Scanned { text, toks })
    }

    fn item(&self, first: usize, last: usize) -> Item {
        Item { first, last, start: self.toks[first].start, end: self.toks[last - 1].end, pos: self.toks[first].pos }
    }

    /// The position just past the end of the text.
    fn end_pos(&self) -> Pos {
        pos_at(self.text, self.text.len())
    }

    /// Index of the bracket closing the one opened at `open`.
    fn matching(&self, open: usize) -> Result<usize, ScanError> {
        let mut depth = 0usize;
        for (i, t) in self.toks.iter().enumerate().skip(open) {
            match t.kind {
                Kind::Open(_) => depth += 1,
                Kind::Close(_) => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(i);
                    }
                }
                _ => {}
            }
        }
        Err((self.toks[open].pos, "unclosed bracket".into()))
    }

    /// Splits `first..last` at commas outside brackets; empty pieces (a trailing comma) are dropped.
    fn split_commas(&self, first: usize, last: usize) -> Result<Vec<(usize, usize)>, ScanError> {
        let mut pieces = Vec::new();
        let mut start = first;
        let mut i = first;
        while i < last {
            match self.toks[i].kind {
                Kind::Open(_) => i = self.matching(i)? + 1,
                Kind::Comma => {
                    pieces.push((start, i));
                    i += 1;
                    start = i;
                }
                _ => i += 1,
            }
        }
        pieces.push((start, last));
        Ok(pieces.into_iter().filter(|(a, b)| a < b).collect())
    }

    /// True when the text holds nothing but whitespace and comments.
    pub fn is_empty(&self) -> bool {
        self.toks.is_empty()
    }

    /// The fields of the top-level struct `(name: value, ...)` (a struct name before the
    /// parenthesis and `#![enable(...)]` attributes are allowed).
    pub fn top_struct(&self) -> Result<Vec<Field>, ScanError> {
        let mut i = 0;
        // #![enable(...)] attributes
        while i < self.toks.len() && self.toks[i].kind == Kind::Word && self.word(i).starts_with('#') {
            i += 1;
            if i < self.toks.len() && self.toks[i].kind == Kind::Open('[') {
                i = self.matching(i)? + 1;
            }
        }
        if i < self.toks.len() && self.toks[i].kind == Kind::Word {
            i += 1; // struct name
        }
        let Some(open) = self.toks.get(i).filter(|t| t.kind == Kind::Open('(')) else {
            let pos = self.toks.get(i).map_or_else(|| self.end_pos(), |t| t.pos);
            return Err((pos, "expected a struct: `(field: value, ...)`".into()));
        };
        let _ = open;
        let close = self.matching(i)?;
        if let Some(extra) = self.toks.get(close + 1) {
            return Err((extra.pos, "unexpected text after the struct".into()));
        }
        self.fields_between(i + 1, close)
    }

    /// The `name: value` fields between two token indexes.
    fn fields_between(&self, first: usize, last: usize) -> Result<Vec<Field>, ScanError> {
        let mut fields = Vec::new();
        for (a, b) in self.split_commas(first, last)? {
            let name_tok = self.toks[a];
            if name_tok.kind != Kind::Word || b - a < 3 || self.toks[a + 1].kind != Kind::Colon {
                return Err((name_tok.pos, "expected `field: value`".into()));
            }
            fields.push(Field { name: self.word(a).to_string(), name_pos: name_tok.pos, value: self.item(a + 2, b) });
        }
        Ok(fields)
    }

    /// The fields of a struct value `(name: value, ...)` (such as `ebs: (type: gp3)`);
    /// `None` when the value is not one.
    pub fn fields(&self, item: &Item) -> Option<Vec<Field>> {
        let (a, b) = self.bracketed(item, '(')?;
        self.fields_between(a, b).ok()
    }

    fn word(&self, i: usize) -> &str {
        &self.text[self.toks[i].start..self.toks[i].end]
    }

    fn bracketed(&self, item: &Item, open: char) -> Option<(usize, usize)> {
        let first = self.toks[item.first];
        if first.kind != Kind::Open(open) {
            return None;
        }
        let close = self.matching(item.first).ok()?;
        (close + 1 == item.last).then_some((item.first + 1, close))
    }

    /// The elements of a list value `[a, b]`; `None` when the value is not a list.
    pub fn list(&self, item: &Item) -> Option<Vec<Item>> {
        let (a, b) = self.bracketed(item, '[')?;
        let pieces = self.split_commas(a, b).ok()?;
        Some(pieces.into_iter().map(|(a, b)| self.item(a, b)).collect())
    }

    /// The entries of a map value `{k: v}`; `None` when the value is not a map.
    pub fn map(&self, item: &Item) -> Option<Vec<(Item, Item)>> {
        let (a, b) = self.bracketed(item, '{')?;
        let mut entries = Vec::new();
        for (a, b) in self.split_commas(a, b).ok()? {
            let mut i = a;
            while i < b && self.toks[i].kind != Kind::Colon {
                if matches!(self.toks[i].kind, Kind::Open(_)) {
                    i = self.matching(i).ok()?;
                }
                i += 1;
            }
            if i == a || i + 1 >= b {
                return None;
            }
            entries.push((self.item(a, i), self.item(i + 1, b)));
        }
        Some(entries)
    }

    /// The source text of a value.
    pub fn text_of(&self, item: &Item) -> &'a str {
        &self.text[item.start..item.end]
    }

    /// For a string value, where each line of the decoded string starts in the file
    /// (used to map a line of a spawn hook back to the RON file).
    pub fn string_line_starts(&self, item: &Item) -> Vec<Pos> {
        let src = self.text_of(item);
        let mut cur = Cursor { chars: src.char_indices().collect(), text: src, i: 0, pos: item.pos };
        let raw = src.starts_with('r');
        let mut hashes = 0;
        if raw {
            cur.bump();
            while cur.peek(0) == Some('#') {
                hashes += 1;
                cur.bump();
            }
        }
        cur.bump(); // opening quote
        let content_end = cur.chars.len().saturating_sub(1 + hashes);
        let mut starts = vec![cur.pos];
        while cur.i < content_end {
            let c = cur.bump();
            if c == Some('\n') || (c == Some('\\') && !raw && cur.bump() == Some('n')) {
                starts.push(cur.pos);
            }
        }
        starts
    }
}

fn is_raw_string(cur: &Cursor<'_>) -> bool {
    let mut k = 1;
    while cur.peek(k) == Some('#') {
        k += 1;
    }
    cur.peek(k) == Some('"')
}

/// The position of a byte offset in `text`.
pub(crate) fn pos_at(text: &str, offset: usize) -> Pos {
    let mut pos = Pos::START;
    for (o, c) in text.char_indices() {
        if o >= offset {
            break;
        }
        if c == '\n' {
            pos.line += 1;
            pos.column = 1;
        } else {
            pos.column += 1;
        }
    }
    pos
}

/// The byte offset of a `ron` error position (1-based line, 1-based column in bytes).
pub(crate) fn ron_offset(text: &str, line: usize, col: usize) -> usize {
    let mut offset = 0;
    for _ in 1..line.max(1) {
        match text[offset..].find('\n') {
            Some(n) => offset += n + 1,
            None => return text.len(),
        }
    }
    let mut offset = (offset + col.max(1) - 1).min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(text: &str) -> Vec<(String, Pos, String)> {
        let s = Scanned::new(text).unwrap();
        s.top_struct().unwrap().into_iter().map(|f| (f.name, f.value.pos, s.text_of(&f.value).to_string())).collect()
    }

    fn p(line: u32, column: u32) -> Pos {
        Pos { line, column }
    }

    #[test]
    fn finds_fields_and_value_positions() {
        let text = "// comment (with: brackets)\n(\n  region: \"us-east-1\", /* a, b: c */ zone: \"a\",\n  tags: {\"a\": \"b,c\", \"d\": \"(\"},\n  spawn: r#\"\necho \"hi\", x\n\"#,\n  persist: [\"/etc\", \"/var/www\",],\n  launch: Template,\n)\n";
        let got = fields(text);
        let expected = vec![
            ("region".to_string(), p(3, 11), "\"us-east-1\"".to_string()),
            ("zone".to_string(), p(3, 44), "\"a\"".to_string()),
            ("tags".to_string(), p(4, 9), "{\"a\": \"b,c\", \"d\": \"(\"}".to_string()),
            ("spawn".to_string(), p(5, 10), "r#\"\necho \"hi\", x\n\"#".to_string()),
            ("persist".to_string(), p(8, 12), "[\"/etc\", \"/var/www\",]".to_string()),
            ("launch".to_string(), p(9, 11), "Template".to_string()),
        ];
        assert_eq!(got, expected);
    }

    #[test]
    fn lists_maps_and_string_lines() {
        let text =
            "Config(persist: [\"/a\", \"b\"], tags: {\"k\": \"v\", \"x\": \"y\"}, spawn: \"a\\nb\", raw: r\"x\ny\")";
        let s = Scanned::new(text).unwrap();
        let f = s.top_struct().unwrap();
        let list: Vec<_> = s.list(&f[0].value).unwrap().iter().map(|i| (i.pos, s.text_of(i))).collect();
        assert_eq!(list, vec![(p(1, 18), "\"/a\""), (p(1, 24), "\"b\"")]);
        let map: Vec<_> =
            s.map(&f[1].value).unwrap().iter().map(|(k, v)| (k.pos, s.text_of(k), s.text_of(v))).collect();
        assert_eq!(map, vec![(p(1, 37), "\"k\"", "\"v\""), (p(1, 47), "\"x\"", "\"y\"")]);
        assert!(s.list(&f[1].value).is_none());
        assert_eq!(s.string_line_starts(&f[2].value), vec![p(1, 66), p(1, 69)]);
        assert_eq!(s.string_line_starts(&f[3].value), vec![p(1, 80), p(2, 1)]);
    }

    #[test]
    fn nested_structs() {
        let text = "(ebs: (type: gp3, iops: 3000,), tags: {\"a\": \"b\"}, empty: ())";
        let s = Scanned::new(text).unwrap();
        let f = s.top_struct().unwrap();
        let nested: Vec<_> =
            s.fields(&f[0].value).unwrap().into_iter().map(|f| (f.name, f.name_pos, s.text_of(&f.value))).collect();
        assert_eq!(nested, vec![("type".to_string(), p(1, 8), "gp3"), ("iops".to_string(), p(1, 19), "3000")]);
        assert!(s.fields(&f[1].value).is_none());
        assert_eq!(s.fields(&f[2].value).map(|f| f.len()), Some(0));
        let bad = Scanned::new("(ebs: (gp3))").unwrap();
        assert!(bad.fields(&bad.top_struct().unwrap()[0].value).is_none());
    }

    #[test]
    fn rejects_non_structs() {
        for (text, expected) in [
            ("[1, 2]", (p(1, 1), "expected a struct: `(field: value, ...)`")),
            ("(a: 1) x", (p(1, 8), "unexpected text after the struct")),
            ("(a 1)", (p(1, 2), "expected `field: value`")),
            ("", (p(1, 1), "expected a struct: `(field: value, ...)`")),
        ] {
            let got = Scanned::new(text).unwrap().top_struct().map(|_| ());
            assert_eq!(got, Err((expected.0, expected.1.to_string())), "text {text:?}");
        }
    }

    #[test]
    fn ron_offsets() {
        let text = "ab\ncdé\nf";
        assert_eq!(ron_offset(text, 2, 3), 5);
        assert_eq!(pos_at(text, ron_offset(text, 3, 1)), p(3, 1));
        assert_eq!(pos_at(text, 5), p(2, 3));
    }
}
