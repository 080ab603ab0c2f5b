//! `schema.graphql` is what clients are written against: it must equal the code's schema.

#[test]
fn schema_graphql_is_up_to_date() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql"))
        .expect(
            "schema.graphql exists (generate it with `cargo run -- print-schema > schema.graphql`)",
        );
    let generated = fenhong::graphql::sdl();
    assert!(
        committed == generated,
        "schema.graphql is stale: run `cargo run -- print-schema > schema.graphql`"
    );
}

#[test]
fn the_schema_has_the_client_contract_of_the_gateway() {
    let sdl = fenhong::graphql::sdl();
    for needle in [
        "me: User!",
        "membership(merchantId: ID!): Membership",
        "merchant(id: ID!): Merchant",
        "members(merchantId: ID!, first: Int, after: String): MembershipConnection!",
        "loginWithWechat(code: String!): AuthPayload!",
        "staffLogin(username: String!, password: String!): AuthPayload!",
        "createMerchant(input: CreateMerchantInput!): Merchant!",
        "createStore(merchantId: ID!, name: String!): Store!",
        "createStaff(merchantId: ID!, username: String!, password: String!, role: StaffRole!): Staff!",
        "joinByScene(scene: String!): Membership!",
        "referralCode: QrCode!",
        "referralCount: Int!",
        "memberCode: String!",
        "expiresAt: DateTime!",
    ] {
        assert!(sdl.contains(needle), "the schema lacks `{needle}`");
    }
}
