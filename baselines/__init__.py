"""The baselines, reimplemented: one module per method, holding its math and its registration.

- `li_renyi`: the Renyi-divergence guarantee of Li et al. (NeurIPS 2019), a smoothing guarantee;
- `pixeldp`: PixelDP's differential-privacy guarantee (Lecuyer et al., S&P 2019), and its own estimator
  (`pixeldp-scores`: expected softmax scores bounded by Hoeffding intervals);
- `lipschitz`: Lipschitz-margin certification and training (Tsuzuku et al., NeurIPS 2018).

Guarantees register in smoothing.guarantees (and so are certifiers), other certifiers in
smoothing.certifiers; both registries read every module here.
"""
