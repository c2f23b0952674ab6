//! `SinglePath`: the network at one architecture, run as the supernet's single path — a fixed
//! network from any space without writing its topology a second time.

use core::marker::PhantomData;

use burn::module::Module;
use burn::tensor::backend::Backend;

use crate::error::Result;
use crate::space::{Extract, Mixtures, Supernet};
use crate::spec::Architecture;

/// The network at architecture `arch` of a supernet, as a plain module: `forward(x)` runs the
/// supernet's single path at `arch` (every decision a one-hot choice, so each entangled module
/// runs on its slice of the largest weight, exactly the extracted network's computation).
///
/// A space whose supernet implements [`Supernet`] gets its fixed networks from this without
/// writing a plain network type; [`Extract::extract`] stays the way to get the smallest
/// standalone module. `SinglePath` keeps the whole supernet: training it trains the slices the
/// path reads (the rest get no gradient), and saving it (`subnet::save`) writes the supernet's
/// largest weights, not only the slices — load it into a `SinglePath` of the same space.
/// Build it from a supernet that has run (trained, loaded, or one forward pass): Burn draws
/// lazily initialized weights at first use, so a clone of a fresh supernet draws its own.
///
/// ```
/// use burn::backend::Flex;
/// use tangle_core::{SinglePath, Supernet};
/// # use tangle_core::{Architecture, SearchSpec, SuperLinear, SuperLinearConfig, Mixtures, Result};
/// # use burn::tensor::Tensor;
/// # #[derive(burn::module::Module, Debug)]
/// # struct Net<B: burn::tensor::backend::Backend> { fc: SuperLinear<B>, #[module(skip)] spec: SearchSpec }
/// # impl<B: burn::tensor::backend::Backend> Supernet<B> for Net<B> {
/// #     type Input = Tensor<B, 2>;
/// #     type Output = Tensor<B, 2>;
/// #     fn spec(&self) -> &SearchSpec { &self.spec }
/// #     fn forward_mixed(&self, x: Tensor<B, 2>, mix: &Mixtures<B>) -> Result<Tensor<B, 2>> {
/// #         self.fc.forward(x, &[mix.get("width")?])
/// #     }
/// # }
/// # let mut space = SearchSpec::builder();
/// # let width = space.sizes("width", &[2, 4], 4)?;
/// # let net = Net::<Flex> { fc: SuperLinearConfig::output(3, width.candidates())?.init(&Default::default())?, spec: space.build() };
/// // `net` is a supernet with one decision, `width` ∈ {2, 4}.
/// let mut arch = Architecture::new();
/// arch.choose(&width, 2)?;
/// let fixed = SinglePath::new(net, &arch)?;
/// let y = fixed.forward(Tensor::ones([5, 3], &Default::default()))?;
/// assert_eq!(y.dims(), [5, 2]);
/// # Ok::<(), tangle_core::CoreError>(())
/// ```
#[derive(Module, Debug)]
pub struct SinglePath<B: Backend, M: Module<B>> {
    /// The supernet whose single path this network is.
    pub supernet: M,
    #[module(skip)]
    arch: Architecture,
    _backend: PhantomData<B>,
}

impl<B: Backend, M: Supernet<B>> SinglePath<B, M> {
    /// The network at `arch`. Errors when `arch` does not fit the supernet's space, naming the
    /// decision.
    pub fn new(supernet: M, arch: &Architecture) -> Result<Self> {
        arch.validate(supernet.spec())?;
        Ok(SinglePath {
            supernet,
            arch: arch.clone(),
            _backend: PhantomData,
        })
    }

    /// The architecture this network runs.
    pub fn architecture(&self) -> &Architecture {
        &self.arch
    }

    /// Forward pass: the supernet's single path at the architecture.
    pub fn forward(&self, input: M::Input) -> Result<M::Output> {
        let mix = Mixtures::fixed(self.supernet.spec(), &self.arch)?;
        self.supernet.forward_mixed(input, &mix)
    }

    /// The parameters the path reads: the extracted network's count.
    pub fn params(&self) -> Result<usize>
    where
        M: Extract<B>,
    {
        self.supernet.params(&self.arch)
    }
}
