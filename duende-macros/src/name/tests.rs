use super::*;

#[test]
fn accepts_portable_names() {
    for ok in ["counter", "my-daemon", "swap_dev2", "a", "a1-b_c", &"a".repeat(MAX_LEN)] {
        assert_eq!(check(ok), Ok(()), "{ok}");
    }
}

#[test]
fn refuses_everything_else_with_the_first_problem() {
    let cases = [
        ("", Problem::Empty),
        ("My", Problem::Char('M')),
        ("My Daemon", Problem::Char('M')),
        ("1st", Problem::Start('1')),
        ("-x", Problem::Start('-')),
        ("_x", Problem::Start('_')),
        ("x-", Problem::End('-')),
        ("x_", Problem::End('_')),
        ("a b", Problem::Char(' ')),
        ("a.b", Problem::Char('.')),
        ("a/b", Problem::Char('/')),
        ("é", Problem::Char('é')),
    ];
    for (bad, problem) in cases {
        assert_eq!(check(bad), Err(problem), "{bad:?}");
    }
    assert_eq!(check(&"a".repeat(MAX_LEN + 1)), Err(Problem::TooLong(MAX_LEN + 1)));
}

#[test]
fn reports_a_bad_character_before_the_length() {
    assert_eq!(check(&"é".repeat(40)), Err(Problem::Char('é')));
    assert_eq!(check(&"A".repeat(80)), Err(Problem::Char('A')));
}

#[test]
fn suggests_an_obvious_fix_only() {
    assert_eq!(suggest("My Daemon").as_deref(), Some("my-daemon"));
    assert_eq!(suggest("a.b").as_deref(), Some("a-b"));
    assert_eq!(suggest("x-").as_deref(), Some("x"));
    assert_eq!(suggest("Counter").as_deref(), Some("counter"));
    assert_eq!(suggest("a..b").as_deref(), Some("a-b"));
    assert_eq!(suggest("1st"), None);
    assert_eq!(suggest(""), None);
    assert_eq!(suggest("é"), None);
    assert_eq!(suggest("counter"), None);
}
