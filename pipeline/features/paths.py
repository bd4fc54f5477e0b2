"""Counts and norms of the network's input-to-output paths."""

from pipeline.features.dag import Network
from pipeline.features.graph import NETWORK, edge_weights
from pipeline.features.registry import Row, network_feature


def _power_of_ten(log10_value: float) -> float:
    """10**x, inf where it overflows a float64."""
    return float(10.0**log10_value) if log10_value < 308 else float("inf")


@network_feature
def path_statistics(net: Network) -> list[Row]:
    """Path count and l1 path norm over the network DAG (network level, "*").

    log10_input_output_paths: log10 of the number of paths from the network
        input to the last layer's outputs, ``log10(1^T C_L ... C_1 1)`` with C_l
        the edge multiplicities, summing at residual inputs. For conv layers this
        counts the paths ending at one output position, ignoring borders,
        strides and pooling. -inf when there is none.
    path_norm_{init,final}: the l1 path norm ``1^T |W_L| ... |W_1| 1``: the sum
        over paths of the product of |w| along them, with ``|W_l|`` the edge
        weights (L1 of surviving kernel entries) of the masked w_init or w_final;
        biases, BatchNorm and pooling are ignored. inf if it overflows float64.
    log10_path_norm_{init,final}: its log10, computed without overflow.
    """
    log_paths = net.log10_path_sum(net.counts)
    rows = [(NETWORK, "log10_input_output_paths", log_paths)]
    for stage in ("init", "final"):
        weights = [edge_weights(layer, getattr(layer, f"w_{stage}")) for layer in net.layers]
        log_norm = net.log10_path_sum(weights)
        rows.append((NETWORK, f"path_norm_{stage}", _power_of_ten(log_norm)))
        rows.append((NETWORK, f"log10_path_norm_{stage}", log_norm))
    return rows
