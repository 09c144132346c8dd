//! The README's psync-node command table lists exactly the commands the node answers
//! (`node::node::command_names()`, which COMMAND COUNT counts): documentation that cannot
//! drift from the code.

#[test]
fn readme_lists_every_supported_command() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).expect("README.md");
    let start = readme.find("<!-- psync-node-commands -->").expect("start marker");
    let end = readme.find("<!-- /psync-node-commands -->").expect("end marker");
    let mut listed: Vec<&str> = readme[start..end]
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| family"))
        .filter_map(|l| l.split('|').nth(2))
        // Top-level names only: the words before a parenthesised list of subcommands.
        .flat_map(|cell| {
            let mut depth = 0;
            cell.split('`')
                .enumerate()
                .filter_map(move |(i, part)| {
                    depth += part.matches('(').count();
                    let word = (i % 2 == 1 && depth == 0).then_some(part);
                    depth -= part.matches(')').count().min(depth);
                    word
                })
                .collect::<Vec<_>>()
        })
        .collect();
    listed.sort_unstable();
    assert_eq!(listed, node::node::command_names());
    assert_eq!(listed.len(), node::node::command_count());
}
