# Writes a gzipped man page from a program's --help with help2man, at build time.
# cmake -DHELP2MAN=<help2man> -DGZIP=<gzip> -DPROGRAM=<path> -DNAME=<one line> -DVERSION=<x.y.z>
#       -DINCLUDE=<static .h2m> -DOUTPUT=<page.1.gz> [-DSUBCOMMANDS=ON] [-DOFFSCREEN=ON]
#       -P manpage.cmake
# The program runs by its bare name from PATH so that its usage lines read "layerwise-cli ...",
# not the build folder's path. SUBCOMMANDS=ON adds a COMMANDS section with the --help of every
# CLI11 subcommand (recursively), each under its own subheading.
cmake_minimum_required(VERSION 3.22)

foreach(var HELP2MAN GZIP PROGRAM NAME VERSION INCLUDE OUTPUT)
    if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
        message(FATAL_ERROR "manpage.cmake: -D${var}=... is required")
    endif()
endforeach()

get_filename_component(prog_dir "${PROGRAM}" DIRECTORY)
get_filename_component(prog "${PROGRAM}" NAME)
set(ENV{PATH} "${prog_dir}:$ENV{PATH}")
set(ENV{OMP_WAIT_POLICY} PASSIVE)  # no re-exec (util/runtime.h)
if(OFFSCREEN)
    set(ENV{QT_QPA_PLATFORM} offscreen)
endif()
get_filename_component(work "${OUTPUT}" DIRECTORY)
get_filename_component(page "${OUTPUT}" NAME_WE)  # layerwise-cli.1.gz -> layerwise-cli
set(roff "${work}/${page}.1")
set(include "${work}/${page}.h2m")

# Roff-safe preformatted text: backslashes, leading dots and quotes, and real minus signs.
function(lw_roff_block text out)
    string(REPLACE "\\" "\\e" text "${text}")
    string(REPLACE "-" "\\-" text "${text}")
    string(REGEX REPLACE "(^|\n)([.'])" "\\1\\\\&\\2" text "${text}")
    string(STRIP "${text}" text)
    set(${out} ".nf\n${text}\n.fi\n" PARENT_SCOPE)
endfunction()

# Appends the help of `prog <words...>` and of its subcommands to the variable named by out.
function(lw_subcommand_help words out)
    execute_process(COMMAND ${prog} ${words} --help
                    OUTPUT_VARIABLE help ERROR_VARIABLE err RESULT_VARIABLE rc)
    if(NOT rc EQUAL 0)
        string(REPLACE ";" " " cmd "${prog};${words}")
        message(FATAL_ERROR "manpage.cmake: `${cmd} --help` failed (${rc}): ${err}")
    endif()
    set(text "${${out}}")
    if(NOT words STREQUAL "")
        string(REPLACE ";" " " title "${prog};${words}")
        lw_roff_block("${help}" block)
        string(APPEND text ".SS \"${title}\"\n${block}")
    endif()
    # CLI11 lists subcommands under "Subcommands:", one "  name   description" line each.
    string(REGEX MATCH "\nSubcommands:\n(  [^\n]*\n?)+" listing "${help}")
    string(REGEX MATCHALL "\n  [a-z][a-z0-9-]*" names "${listing}")
    foreach(name IN LISTS names)
        string(STRIP "${name}" name)
        set(sub ${words} ${name})
        lw_subcommand_help("${sub}" text)
    endforeach()
    set(${out} "${text}" PARENT_SCOPE)
endfunction()

file(READ "${INCLUDE}" static_include)
set(generated "")
if(SUBCOMMANDS)
    set(commands "")
    lw_subcommand_help("" commands)
    set(generated "[COMMANDS]\nEach command takes \\fB\\-\\-help\\fR.\n${commands}\n")
endif()
file(WRITE "${include}" "${generated}${static_include}")

execute_process(
    COMMAND ${HELP2MAN} --no-info --section=1 --name=${NAME} --version-string=${VERSION}
            --include=${include} --output=${roff} ${prog}
    RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "manpage.cmake: help2man failed for ${prog} (${rc}): ${err}")
endif()
# -n: no name or time stamp in the archive (reproducible).
execute_process(COMMAND ${GZIP} -9nf ${roff} RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "manpage.cmake: gzip ${roff} failed (${rc})")
endif()
