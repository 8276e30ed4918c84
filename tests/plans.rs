//! Reviewed plan snapshots: `plans/` holds the text and RON rendering of each command
//! situation, ids, addresses and tokens replaced by placeholders. A reviewer reads `plans/`
//! to see what each command does; a change to a plan shows up as a snapshot diff.

mod support;

use cellar_sim::{default_world, Sim};

fn snapshot(name: &str, command_line: &str, prepare: impl FnOnce(&mut cellar_sim::World)) {
    let mut world = default_world();
    prepare(&mut world);
    let sim = Sim::new(world);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let plan = rt.block_on(support::plan(&sim, command_line)).expect("plans");
    insta::with_settings!({
        snapshot_path => "../plans",
        prepend_module_to_snapshot => false,
        omit_expression => true,
        description => command_line,
        filters => vec![
            (r"\b(i|vol|eipalloc|ami|lt|snap)-[0-9a-f]{4,17}\b", "$1-[id]"),
            (r"\b198\.51\.100\.\d+\b", "[address]"),
            (r"\b203\.0\.113\.\d+\b", "[dns-address]"),
            (r"cellar-([a-z0-9-]+?)-[0-9a-f]{16}", "cellar-$1-[token]"),
        ],
    }, {
        insta::assert_snapshot!(format!("{name}.text"), plan.render_text());
        insta::assert_snapshot!(format!("{name}.ron"), plan.to_ron());
    });
}

#[test]
fn create_server_new_address_behind_dns_gate() {
    snapshot("create-server-new-address", "create-server@ommegang 20", |_| {});
}

#[test]
fn create_server_reusing_address_that_matches_dns() {
    snapshot("create-server-reuse-address", "create-server@duvel 30", |_| {});
}
