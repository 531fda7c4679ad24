// Typed component state: a state table lays out a context and binds its struct once; a parameter table generates
// the specs and binds the store; every component's context binds every entry of its table.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "model/connection.hpp"
#include "model/model.hpp"
#include "model/sublayer.hpp"
#include "model_test_util.hpp"
#include "support/connection_kinds.hpp"

using namespace mhc;
using namespace mhc::model;

namespace {

struct BaseState : ContextState {
  Tensor a;
};
struct DerivedState : BaseState {
  Tensor b, c;
};
struct OtherState : ContextState {
  Tensor a;
};

StateTable<DerivedState> derived_table() {
  using S = DerivedState;
  StateTable<S> table;
  add_fields<S>(table, DType::f32, Shape{4, 3}, {{"a", &S::a}, {"b", &S::b}});
  add_fields<S>(table, DType::f64, Shape{5}, {{"c", &S::c}}, EntryRole::transient);
  return table;
}

// Every entry of `ctx`'s layout that a member of its typed state must be: the members read by name.
void check_member(const ActivationContext& ctx, const std::string& name, const Tensor& member) {
  INFO(ctx.name() << " " << name);
  CHECK(member.data == ctx[name].data);
  CHECK(member.shape == ctx[name].shape);
  CHECK(member.dtype == ctx[name].dtype);
}

}  // namespace

TEST_CASE("a state table lays out a context and binds its typed state once", "[model]") {
  const ContextLayout layout = layout_of(derived_table());
  REQUIRE(layout.specs.size() == 3);
  CHECK(layout.specs[0].name == "a");
  CHECK(layout.specs[2].dtype == DType::f64);
  CHECK(layout.specs[2].shape == Shape{5});
  CHECK(layout.names(EntryRole::transient) == std::vector<std::string>{"c"});
  CHECK(layout.names(EntryRole::kept) == std::vector<std::string>{"a", "b"});
  CHECK(layout.names(EntryRole::input).empty());

  const ActivationContext ctx("typed", layout);
  const DerivedState& s = ctx.state<DerivedState>();
  check_member(ctx, "a", s.a);
  check_member(ctx, "b", s.b);
  check_member(ctx, "c", s.c);
  CHECK(&ctx.state<BaseState>() == &s);  // a base of the bound struct reads the same members
  CHECK_THROWS_AS(ctx.state<OtherState>(), ShapeError);
  CHECK_THROWS_WITH(ctx.state<OtherState>(), Catch::Contains("typed") && Catch::Contains("no state"));
  CHECK_THROWS_AS(ActivationContext("untyped", layout.specs).state<BaseState>(), ShapeError);

  // Views bind like owned entries.
  const ActivationContext user("user", layout, TensorViews{{"a", ctx["a"]}});
  CHECK(user.state<DerivedState>().a.data == s.a.data);
  CHECK(user.state<DerivedState>().b.data != s.b.data);
}

TEST_CASE("a parameter table generates the specs and binds the store", "[model]") {
  struct Params {
    Param w, g;
  };
  const ParamTable<Params> table{{"w", &Params::w, Shape{2, 3}, Component::attention, InitKind::normal, 0.02, true},
                                 {"g", &Params::g, Shape{3}, Component::norm, InitKind::ones, 0.0, false}};
  const std::vector<ParamSpec> specs = param_specs_of(table, "blk", 4, 9);
  REQUIRE(specs.size() == 2);
  CHECK(specs[0].name == "blk.w");
  CHECK(specs[0].shape == Shape{2, 3});
  CHECK(specs[1].name == "blk.g");
  CHECK(specs[1].init == InitKind::ones);
  CHECK_FALSE(specs[1].weight_decay);
  CHECK(specs[1].block == 4);
  CHECK(specs[1].layer == 9);

  const config::Config cfg = test::tiny_config(connection_kind("residual"), 1);
  const ParameterStore store(specs, cfg, DType::f64, 1);
  const Params p = bind_params(table, store, "blk");
  CHECK(p.w.value.data == store.param("blk.w").data);
  CHECK(p.w.grad.data == store.grad("blk.w").data);
  CHECK(p.g.value.data == store.param("blk.g").data);
  CHECK_THROWS_AS(bind_params(table, store, "other"), ConfigError);
  CHECK_THROWS_WITH(bind_params(table, store, "other"), Catch::Contains("other.w"));
}

TEST_CASE("the model's parameter table is the components' tables in order", "[model]") {
  for (const auto type : connection_kinds()) {
    INFO(type->name());
    const config::Config cfg = test::tiny_config(type, type->default_streams(), 2);
    std::vector<std::string> expected{"embed.weight"};
    for (std::int64_t b = 0; b < 2; ++b) {
      const std::string blk = "blocks." + std::to_string(b);
      for (const auto& part : {attention_parameter_specs(cfg, blk + ".attn", b, 2 * b),
                               type->parameter_specs(cfg, blk + ".attn.conn", b, 2 * b),
                               mlp_parameter_specs(cfg, blk + ".mlp", b, 2 * b + 1),
                               type->parameter_specs(cfg, blk + ".mlp.conn", b, 2 * b + 1)})
        for (const auto& s : part) expected.push_back(s.name);
    }
    std::vector<std::string> names;
    for (const auto& s : model_parameter_specs(cfg))
      if (s.block >= 0 || s.name == "embed.weight") names.push_back(s.name);
    CHECK(names == expected);
  }
}

TEST_CASE("every component's context binds every entry of its table", "[model]") {
  CHECK(Sublayer::input_entries() == std::vector<std::string>{"u", "xn", "rstd"});
  for (const auto type : connection_kinds()) {
    for (const auto kind : {SublayerKind::attention, SublayerKind::mlp}) {
      INFO(type->name() << (kind == SublayerKind::attention ? " attention" : " mlp"));
      const config::Config cfg = test::tiny_config(type, type->default_streams());
      const ParameterStore store(model_parameter_specs(cfg), cfg, DType::f64, 1);
      const ResidualLayer layer(cfg, store, 0, kind);
      const LayerContext ctx = layer.make_context(2);
      const SublayerState& f = ctx.sublayer.state<SublayerState>();
      check_member(ctx.sublayer, "u", f.u);
      check_member(ctx.sublayer, "xn", f.xn);
      check_member(ctx.sublayer, "rstd", f.rstd);
      check_member(ctx.sublayer, "dy", f.dy);
      if (kind == SublayerKind::attention) {
        const AttentionState& a = ctx.sublayer.state<AttentionState>();
        check_member(ctx.sublayer, "do", a.d_o);
        check_member(ctx.sublayer, "lse", a.lse);
      } else {
        check_member(ctx.sublayer, "h", ctx.sublayer.state<MlpState>().h);
      }
      if (!type->keeps_streams()) {
        CHECK(ctx.connection.tensors().empty());
        continue;
      }
      const StreamState& s = ctx.connection.state<StreamState>();
      check_member(ctx.connection, "x", s.x);
      check_member(ctx.connection, "y", s.y);
      check_member(ctx.connection, "h_pre", s.h_pre);
      check_member(ctx.connection, "h_post", s.h_post);
      check_member(ctx.connection, "h_res", s.h_res);
      // The kind's layout (plan's accounting) is the one the connection allocates.
      std::vector<std::string> names;
      for (const auto& [name, t] : ctx.connection.tensors()) names.push_back(name);
      std::vector<std::string> planned;
      for (const auto& spec : type->activation_layout(cfg, DType::f64, 2).specs) planned.push_back(spec.name);
      std::sort(planned.begin(), planned.end());
      CHECK(names == planned);
    }
  }
}
