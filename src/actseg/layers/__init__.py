"""``nn.Module`` building blocks: dilated TCN stages (MS-TCN, MS-TCN++), windowed attention (ASFormer), fusion,
skeleton graphs and multi-scale graph convolution (MS-G3D / DeST), DSMI (InterAct), frame–action
cross-attention (FACT), TransParser's SPS unit, graph matching (PCA-GM, channels-last ``(b, n, d)`` as
pygmtools).

Every block takes features ``x`` ``(B, C, T)`` and a padding ``mask`` ``(B, T)`` bool (``True`` = valid,
``None`` = all valid) and gives padded frames no influence: a padded batch gives every element exactly
what it gives alone, and outputs are 0 at padded frames. The FACT blocks (``CrossAttentionUpdate``,
``ActionTokenDecoderLayer``, ``TokenSelfAttentionLayer``) mix token sets with frames and take both channels
last, ``(B, L, D)``, with one ``(B, L)`` mask per sequence. Official checkpoints load through
``actseg.io.convert_state_dict``.

Constructors check their arguments before allocating anything (numpy integers accepted; channels
``<= 2**16``, layers per stage ``<= 16``, dilations and block sizes ``<= 2**15``, stages ``<= 64``, at most
``2**30`` parameters) and ``forward`` checks shapes, dtypes and devices: a ``TypeError`` or ``ValueError``
naming the public argument (``docs/layers.md``). Every module runs on meta tensors for shape inference.
"""

from ._asformer import ASFormer, ASFormerBlock
from ._attention import WINDOWS, WindowedAttention
from ._graph import DSMI, SKELETON_LAYOUTS, MultiScaleGraphConv, multiscale_adjacency, skeleton_edges
from ._interaction import ActionTokenDecoderLayer, CrossAttentionUpdate, TokenSelfAttentionLayer
from ._matching import GraphMatching
from ._mfai import ACTION_PROBABILITIES, FUSIONS, MFAI, MFAIOutput, MultiScaleEncoderDecoder, MultiScaleFeatures
from ._parsing import SPS_NORMS, SoftPatternStrengthening
from ._tcn import (
    MSTCN,
    DilatedResidualLayer,
    DualDilatedLayer,
    FusionMSTCNPlusPlus,
    MSTCNPlusPlus,
    PredictionGenerationStage,
    SingleStageTCN,
)

__all__ = [
    "DSMI",
    "MSTCN",
    "SKELETON_LAYOUTS",
    "SPS_NORMS",
    "WINDOWS",
    "ASFormer",
    "ASFormerBlock",
    "ActionTokenDecoderLayer",
    "CrossAttentionUpdate",
    "DilatedResidualLayer",
    "DualDilatedLayer",
    "FusionMSTCNPlusPlus",
    "GraphMatching",
    "MSTCNPlusPlus",
    "MultiScaleGraphConv",
    "PredictionGenerationStage",
    "SingleStageTCN",
    "SoftPatternStrengthening",
    "TokenSelfAttentionLayer",
    "WindowedAttention",
    "multiscale_adjacency",
    "skeleton_edges",
]
__all__ += ["ACTION_PROBABILITIES", "FUSIONS", "MFAI", "MFAIOutput", "MultiScaleEncoderDecoder", "MultiScaleFeatures"]
