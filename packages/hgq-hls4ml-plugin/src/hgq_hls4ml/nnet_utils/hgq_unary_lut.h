// hgq-hls4ml-plugin: unary lookup-table activation.
// Each input is cast to the table's input format (index_t, exact for values on that grid) and its raw
// two's-complement bits index the table, which holds the activation already quantized to the output format.
#ifndef HGQ_UNARY_LUT_H_
#define HGQ_UNARY_LUT_H_

#include "hls_stream.h"
#include "nnet_common.h"

namespace nnet {

struct hgq_unary_lut_config {
    static const unsigned n_in = 1;
    static const unsigned table_size = 2;
    static const unsigned index_bits = 1;
    typedef ap_fixed<1, 1> index_t;
    typedef ap_fixed<8, 2> table_t;
};

template <class data_T, class CONFIG_T> inline unsigned hgq_lut_index(data_T x) {
    #pragma HLS INLINE
    typename CONFIG_T::index_t v = x;
    ap_uint<CONFIG_T::index_bits> idx = v.range(CONFIG_T::index_bits - 1, 0);
    return idx.to_uint();
}

template <class data_T, class res_T, typename CONFIG_T>
void hgq_unary_lut(data_T data[CONFIG_T::n_in], res_T res[CONFIG_T::n_in],
                   const typename CONFIG_T::table_t table[CONFIG_T::table_size]) {
    #pragma HLS INLINE
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        res[i] = table[hgq_lut_index<data_T, CONFIG_T>(data[i])];
    }
}

template <class data_T, class res_T, typename CONFIG_T>
void hgq_unary_lut(hls::stream<data_T> &data, hls::stream<res_T> &res,
                   const typename CONFIG_T::table_t table[CONFIG_T::table_size]) {
    if (data_T::size == res_T::size) {
        for (unsigned i = 0; i < CONFIG_T::n_in / res_T::size; i++) {
            #pragma HLS PIPELINE
            data_T in_word = data.read();
            res_T out_word;
            PRAGMA_DATA_PACK(out_word)
            for (unsigned j = 0; j < res_T::size; j++) {
                #pragma HLS UNROLL
                out_word[j] = table[hgq_lut_index<typename data_T::value_type, CONFIG_T>(in_word[j])];
            }
            res.write(out_word);
        }
    } else {
        // the input and output streams pack different numbers of elements per word (e.g. after a Flatten):
        // look every element up into a buffer, then repack
        typename res_T::value_type buffer[CONFIG_T::n_in];
        for (unsigned i = 0; i < CONFIG_T::n_in / data_T::size; i++) {
            #pragma HLS PIPELINE
            data_T in_word = data.read();
            for (unsigned j = 0; j < data_T::size; j++) {
                #pragma HLS UNROLL
                buffer[i * data_T::size + j] = table[hgq_lut_index<typename data_T::value_type, CONFIG_T>(in_word[j])];
            }
        }
        for (unsigned i = 0; i < CONFIG_T::n_in / res_T::size; i++) {
            #pragma HLS PIPELINE
            res_T out_word;
            PRAGMA_DATA_PACK(out_word)
            for (unsigned j = 0; j < res_T::size; j++) {
                #pragma HLS UNROLL
                out_word[j] = buffer[i * res_T::size + j];
            }
            res.write(out_word);
        }
    }
}

} // namespace nnet

#endif
