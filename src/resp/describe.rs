//! `COMMAND`: the command table described in the shapes Redis 7 uses, enough for redis-cli to
//! build its hints and help from `COMMAND DOCS`.

use bytes::Bytes;

use super::reply::{self, Frame};
use super::table::{self, Arg, Spec};

/// Runs `COMMAND [COUNT | INFO name... | DOCS [name...]]`; the arity is already checked.
pub fn run(spec: &Spec, args: &[Bytes]) -> Frame {
    if args.is_empty() {
        return reply::array(table::all().map(info).collect());
    }
    let sub = match super::admin::sub(spec, args) {
        Ok(sub) => sub,
        Err(e) => return e,
    };
    let names = &args[1..];
    match sub.name {
        "command|count" => reply::int(table::count() as i64),
        "command|info" => {
            let found = names
                .iter()
                .map(|n| table::find(n).map_or(reply::nil(), info));
            reply::array(found.collect())
        }
        _ => {
            let specs: Vec<&Spec> = if names.is_empty() {
                table::all().collect()
            } else {
                names.iter().filter_map(|n| table::find(n)).collect()
            };
            reply::map(specs.into_iter().map(|s| (s.name, docs(s))).collect())
        }
    }
}

/// `COMMAND INFO` for one command, in Redis 7's ten-field shape: flags, ACL categories, tips and
/// key specs are sets (arrays in RESP2), subcommands an array (an empty set when there are none).
pub fn info(spec: &Spec) -> Frame {
    let flags = spec.flags.iter().map(|f| reply::simple(f)).collect();
    let categories = vec![reply::simple(&format!("@{}", spec.group))];
    let subcommands = if spec.subcommands.is_empty() {
        reply::set(Vec::new())
    } else {
        reply::array(spec.subcommands.iter().map(info).collect())
    };
    reply::array(vec![
        reply::bulk_str(spec.name),
        reply::int(spec.arity),
        reply::set(flags),
        reply::int(spec.keys.0),
        reply::int(spec.keys.1),
        reply::int(spec.keys.2),
        reply::set(categories),
        reply::set(Vec::new()),
        reply::set(Vec::new()),
        subcommands,
    ])
}

/// `COMMAND DOCS` for one command: summary, since, group, arguments, subcommands.
pub fn docs(spec: &Spec) -> Frame {
    let args = spec.args.iter().map(arg_docs).collect();
    let mut fields = vec![
        ("summary", reply::bulk_str(spec.summary)),
        ("since", reply::bulk_str(spec.since)),
        ("group", reply::bulk_str(spec.group)),
        ("arguments", reply::array(args)),
    ];
    if !spec.subcommands.is_empty() {
        let subs = spec.subcommands.iter().map(|s| (s.name, docs(s))).collect();
        fields.push(("subcommands", reply::map(subs)));
    }
    reply::map(fields)
}

fn arg_docs(arg: &Arg) -> Frame {
    let flags = arg.flags.iter().map(|f| reply::simple(f)).collect();
    reply::map(vec![
        ("name", reply::bulk_str(arg.name)),
        ("type", reply::bulk_str(arg.kind)),
        ("flags", reply::set(flags)),
    ])
}
