// MPI-IO hints for the result file (private to the library): SYMSWEEP_MPIIO_HINTS =
// "key=value, key=value", checked when a run starts and handed to MPI-IO through HDF5's
// file-access list (store.cpp, mpio_access). README, "File systems", says which hints matter on
// NFS, Lustre and GPFS.
//
// The hints come from the environment, not the config: they belong to the machine and its file
// system, not to the sweep (a config's every key is part of what the results are, stored in the
// file and compared on resume; a file started on one cluster may be resumed on another).
#pragma once

#include <hdf5.h>
#include <mpi.h>

#include <string>
#include <string_view>
#include <vector>

namespace symsweep {

inline constexpr const char* kIoHintsVariable = "SYMSWEEP_MPIIO_HINTS";

struct IoHint {
  std::string key, value;
};

/// Parses "key=value, key=value" (empty: none). Keys: letters, digits and '_'; values: no
/// blanks, ',' or '='. The hints MPI-IO implementations document have their values checked
/// (enable | disable | automatic, true | false, a whole number of bytes or nodes); a key one or
/// two letters away from such a hint is taken for a misspelling. Other keys pass unchecked
/// (vendors' own hints): MPI-IO ignores the keys it does not know. Throws ConfigError naming
/// `where`, the item, its value and the rule.
std::vector<IoHint> parse_io_hints(std::string_view text, std::string_view where);

/// SYMSWEEP_MPIIO_HINTS parsed (none when unset). Throws ConfigError as parse_io_hints.
std::vector<IoHint> io_hints_from_environment();

/// A new MPI_Info holding `hints` (the caller frees it), MPI_INFO_NULL when there are none.
MPI_Info io_hints_info(const std::vector<IoHint>& hints);

/// H5Pset_fapl_mpio(fapl, comm, SYMSWEEP_MPIIO_HINTS's hints): the MPI-IO driver of every open
/// of a result file. Returns H5Pset_fapl_mpio's status; throws ConfigError for bad hints.
herr_t set_fapl_mpio_with_hints(hid_t fapl, MPI_Comm comm);

/// "key=value, key=value".
std::string io_hints_text(const std::vector<IoHint>& hints);

}  // namespace symsweep
